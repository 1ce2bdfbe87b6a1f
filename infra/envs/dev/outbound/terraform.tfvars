# dev: outbound service. Replace the account ids with the stage's before the first apply.
region                     = "us-east-1"
aws_account_id             = "111111111111"
twilio_account_sid         = "AC00000000000000000000000000000000"
twilio_default_from_number = "+15005550006"
