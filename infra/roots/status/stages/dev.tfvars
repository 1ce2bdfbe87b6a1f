# dev: the status root's values. Replace the placeholder account ids with the stage's before the first apply.
stage                = "dev"
region               = "us-east-1"
aws_account_id       = "111111111111"
twilio_account_sid   = "AC00000000000000000000000000000000"
reserved_concurrency = null
log_retention_days   = 30
throttle_rate_limit  = 20
throttle_burst_limit = 40
