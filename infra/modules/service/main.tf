# One service: its Lambda functions (the API handler and any scheduled handlers, all
# from one zip), their log groups, and one least-privilege role. The API is in api.tf.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  prefix     = "omni-twilio-${var.stage}-${var.name}"
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition

  # The Chalice app object handles API Gateway events; each @app.schedule function is
  # its own Lambda function, as `chalice deploy` would make it.
  api_handler = "app.app"

  # What runs where: GET /health reports it (carrier_core.version), the console and
  # `aws lambda get-function` show it as the description and the tags.
  zip_sha256 = filesha256(var.zip_path)
  version    = "${var.code_version} sha256:${local.zip_sha256}"

  functions = merge(
    { api = { function_name = local.prefix, handler = local.api_handler } },
    { for key, s in var.schedules : key => { function_name = "${local.prefix}-${replace(key, "_", "-")}", handler = s.handler } },
  )

  table_arns = { for key, name in var.tables : key => "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${name}" }

  # "messages" -> the table's ARN; "failed_messages/index/due" -> that index's ARN.
  access = {
    for key, actions in local.table_actions[var.name] : key => {
      actions  = actions
      resource = "${local.table_arns[split("/index/", key)[0]]}${trimprefix(key, split("/index/", key)[0])}"
    }
  }

  token_parameters = compact([
    var.auth_token_parameter,
    var.secondary_auth_token_parameter == null ? "" : var.secondary_auth_token_parameter,
    var.webhook_shared_key_parameter == null ? "" : var.webhook_shared_key_parameter,
    var.api_key_secret_parameter == null ? "" : var.api_key_secret_parameter,
  ])

  # Every parameter under the stage's tenant path, and nothing above it: the tenants'
  # secrets (<prefix><tenant>/auth-token, secondary-auth-token, api-key-secret).
  tenant_parameters_arn = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${var.tenant_parameter_prefix}*"

  # The stream functions (handoff.tf, media.tf, optout_cancels.tf) import app.py, whose cold start reads the
  # settings, auth token included (carrier_core/runtime.py).
  stream_function_parameters = {
    arns        = [for name in local.token_parameters : "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${name}"]
    kms_key_arn = var.secrets_kms_key_arn
  }

  # What a stream function that acts with a message's tenant's credentials reads (media.tf,
  # optout_cancels.tf): modules/stream_function's tenant_reads.
  stream_function_tenant_reads = {
    table_arn       = local.table_arns["tenants"]
    parameters_arn  = local.tenant_parameters_arn
    secrets_kms_arn = var.tenant_secrets_kms_key_arn
  }

  # The service's public base URL. Twilio signs the exact URL it is configured with, so
  # the function must know it: from the custom domain when there is one, otherwise the
  # stage's execute-api URL, built from the API's id (the function does not need the
  # API to exist first, the API references the function by name: no cycle).
  base_url    = coalesce(var.public_base_url, "https://${aws_api_gateway_rest_api.this.id}.execute-api.${local.region}.amazonaws.com/${var.stage}")
  own_webhook = lookup(local.webhooks, var.name, null)

  # Names read by carrier_core/settings.py. Tokens are never here: only the names of
  # the SSM parameters that hold them.
  environment = merge(
    var.environment,
    {
      STAGE                       = var.stage
      SERVICE_VERSION             = local.version
      MESSAGES_TABLE              = var.tables.messages
      FAILED_MESSAGES_TABLE       = var.tables.failed_messages
      OPTOUTS_TABLE               = var.tables.optouts
      IDEMPOTENCY_TABLE           = var.tables.idempotency
      TENANTS_TABLE               = var.tables.tenants
      TENANT_PARAMETER_PREFIX     = var.tenant_parameter_prefix
      TWILIO_AUTH_TOKEN_PARAMETER = var.auth_token_parameter
    },
    var.secondary_auth_token_parameter == null ? {} : { TWILIO_AUTH_TOKEN_SECONDARY_PARAMETER = var.secondary_auth_token_parameter },
    var.webhook_shared_key_parameter == null ? {} : { TWILIO_WEBHOOK_SHARED_KEY_PARAMETER = var.webhook_shared_key_parameter },
    var.api_key_secret_parameter == null ? {} : { TWILIO_API_KEY_SECRET_PARAMETER = var.api_key_secret_parameter },
    local.own_webhook == null ? {} : { (local.own_webhook.variable) = "${local.base_url}${local.own_webhook.path}" },
    local.media_environment,
  )
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is log_retention_days, set per stage: prod keeps 365 days, dev 30 for short-lived test traffic.
  for_each          = local.functions
  name              = "/aws/lambda/${each.value.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:API functions are invoked synchronously (no DLQ applies); the scheduled worker reruns every minute and failed sends stay in the failed-messages table.
  #checkov:skip=CKV_AWS_117:Reaches only DynamoDB, SSM and Twilio's public API; a VPC would add NAT cost and cold-start time for no isolation gain.
  #checkov:skip=CKV_AWS_272:Zips are built reproducibly by `make package-<svc>` and deployed by the same pipeline; code signing is not set up.
  #checkov:skip=CKV_AWS_173:The environment holds table names, URLs and parameter names, no secret (tokens are in SSM); the AWS managed key encrypts it at rest.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is the reserved_concurrency variable, set per stage; dev accounts often cannot reserve any.
  for_each      = local.functions
  function_name = each.value.function_name
  role          = aws_iam_role.this.arn
  handler       = each.value.handler
  runtime       = "python3.12"
  architectures = ["arm64"]
  memory_size   = var.memory_size
  timeout       = var.timeout

  description      = "${each.value.function_name} ${local.version}"
  filename         = var.zip_path
  source_code_hash = filebase64sha256(var.zip_path)

  reserved_concurrent_executions = each.key == "api" && var.reserved_concurrency != null ? var.reserved_concurrency : -1

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = "Active"
  }

  tags = {
    version    = var.code_version
    zip_sha256 = local.zip_sha256
  }

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}

# ---------------------------------------------------------------------------------------
# Role: only the log groups, tables, indexes, parameters and keys this service uses.
# ---------------------------------------------------------------------------------------

resource "aws_iam_role" "this" {
  name               = local.prefix
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = local.prefix
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for group in aws_cloudwatch_log_group.this : "${group.arn}:*"]
  }

  # X-Ray has no resource-level permissions: AWS requires "*" for these two actions.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = local.access
    content {
      sid       = "Table${replace(title(replace(statement.key, "/[_/]/", " ")), " ", "")}"
      actions   = statement.value.actions
      resources = [statement.value.resource]
    }
  }

  # DynamoDB encrypts and decrypts with the tables' key on the caller's behalf.
  statement {
    sid       = "UseTablesKeyThroughDynamoDB"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.tables_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
  }

  # Settings read the auth token(s), and outbound its API key secret, once per cold start:
  # GetParameter WithDecryption.
  statement {
    sid       = "ReadAuthToken"
    actions   = ["ssm:GetParameter"]
    resources = [for name in local.token_parameters : "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${name}"]
  }

  statement {
    sid       = "DecryptAuthTokenThroughSsm"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
  }

  # A tenant's secrets, read WithDecryption when a container first meets the tenant and
  # again when its cache of them expires: parameters under the stage's tenant path only.
  # The tenant's configuration is the tenants table's GetItem (access.tf).
  statement {
    sid       = "ReadTenantSecrets"
    actions   = ["ssm:GetParameter", "ssm:GetParameters"]
    resources = [local.tenant_parameters_arn]
  }

  statement {
    sid       = "DecryptTenantSecretsThroughSsm"
    actions   = ["kms:Decrypt"]
    resources = [var.tenant_secrets_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
  }
}

# ---------------------------------------------------------------------------------------
# Schedules: EventBridge invokes each scheduled handler.
# ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "schedule" {
  for_each            = var.schedules
  name                = local.functions[each.key].function_name
  description         = "Runs ${each.value.handler} of ${local.prefix}"
  schedule_expression = each.value.schedule_expression
}

resource "aws_cloudwatch_event_target" "schedule" {
  for_each = var.schedules
  rule     = aws_cloudwatch_event_rule.schedule[each.key].name
  arn      = aws_lambda_function.this[each.key].arn
}

resource "aws_lambda_permission" "schedule" {
  for_each      = var.schedules
  statement_id  = "AllowEventBridge"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this[each.key].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule[each.key].arn
}
