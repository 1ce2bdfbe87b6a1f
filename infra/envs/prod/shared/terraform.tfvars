# prod: shared root. Replace the account id with the stage's before the first apply.
region                    = "us-east-1"
aws_account_id            = "222222222222"
manage_apigateway_account = true
alarm_emails              = []
