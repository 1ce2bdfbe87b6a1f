# prod: the shared root's values. Replace the placeholder account id with the stage's before the first apply.
stage                     = "prod"
region                    = "us-east-1"
aws_account_id            = "222222222222"
manage_apigateway_account = true
alarm_emails              = []
deletion_protection       = true
media_expiry_days         = 400
media_force_destroy       = false
