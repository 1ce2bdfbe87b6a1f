# State backend of the dev stage (created once, see infra/README.md). The key is in main.tf.
bucket         = "omni-twilio-dev-terraform-state"
region         = "us-east-1"
dynamodb_table = "omni-twilio-dev-terraform-locks"
