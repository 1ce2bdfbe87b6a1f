# prod: the status root's values. Replace the placeholder account ids with the stage's before the first apply.
stage                = "prod"
region               = "us-east-1"
aws_account_id       = "222222222222"
twilio_account_sid   = "AC00000000000000000000000000000000"
reserved_concurrency = 100
log_retention_days   = 365
throttle_rate_limit  = 200
throttle_burst_limit = 400
