# State of the outbound root in the prod stage's account (bucket and lock table: infra/README.md).
bucket         = "omni-twilio-prod-terraform-state"
key            = "omni-twilio/prod/outbound.tfstate"
region         = "us-east-1"
dynamodb_table = "omni-twilio-prod-terraform-locks"
