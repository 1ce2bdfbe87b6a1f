# State of the inbound root in the dev stage's account (bucket and lock table: infra/README.md).
bucket         = "omni-twilio-dev-terraform-state"
key            = "omni-twilio/dev/inbound.tfstate"
region         = "us-east-1"
dynamodb_table = "omni-twilio-dev-terraform-locks"
