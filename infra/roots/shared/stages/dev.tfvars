# dev: the shared root's values. Replace the placeholder account id with the stage's before the first apply.
stage                     = "dev"
region                    = "us-east-1"
aws_account_id            = "111111111111"
manage_apigateway_account = true
alarm_emails              = []
deletion_protection       = false
media_expiry_days         = 30
media_force_destroy       = true
