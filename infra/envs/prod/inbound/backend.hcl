# State backend of the prod stage (created once, see infra/README.md). The key is in main.tf.
bucket         = "omni-twilio-prod-terraform-state"
region         = "us-east-1"
dynamodb_table = "omni-twilio-prod-terraform-locks"
