# prod: status service. Replace the account ids with the stage's before the first apply.
region             = "us-east-1"
aws_account_id     = "222222222222"
twilio_account_sid = "AC00000000000000000000000000000000"
