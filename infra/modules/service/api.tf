# The service's REST API: one OpenAPI document with a Lambda proxy integration per
# Chalice route, one stage with access logs, X-Ray and throttling.

locals {
  # Built from the function's name, not its resource, so the function can be told the
  # API's URL without a dependency cycle.
  invoke_arn = "arn:${local.partition}:apigateway:${local.region}:lambda:path/2015-03-31/functions/arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.prefix}/invocations"

  integration = {
    type                = "aws_proxy"
    httpMethod          = "POST"
    uri                 = local.invoke_arn
    passthroughBehavior = "when_no_match"
  }

  openapi_paths = {
    for path in distinct([for r in local.routes[var.name] : r.path]) : path => {
      for r in local.routes[var.name] : lower(r.method) => merge(
        {
          parameters = [
            for p in regexall("{([^}]+)}", path) : { name = p[0], in = "path", required = true, schema = { type = "string" } }
          ]
          responses                         = {}
          "x-amazon-apigateway-integration" = local.integration
        },
        var.authorization == "AWS_IAM" ? { security = [{ sigv4 = [] }] } : {},
      ) if r.path == path
    }
  }

  # API Gateway answers some requests itself, before the function runs: an unknown path
  # (MISSING_AUTHENTICATION_TOKEN, which is also what an unsigned call to a SigV4 route
  # gets), throttling, a body over 10 MB, an integration timeout. Each of those gets the
  # project's error body, with a code from carrier_core/errors.py, so every error from every
  # endpoint has one shape. tests/infra/test_gateway_responses.py checks each code and status
  # against the taxonomy; devstack/gateway.py gives `chalice local` the same answers.
  gateway_errors = {
    MISSING_AUTHENTICATION_TOKEN = { status = 404, code = "not_found", retryable = false, message = "No such endpoint, or the request is not signed as this API requires." }
    RESOURCE_NOT_FOUND           = { status = 404, code = "not_found", retryable = false, message = "No such endpoint." }
    ACCESS_DENIED                = { status = 403, code = "access_denied", retryable = false, message = "The caller is not allowed to call this endpoint." }
    INVALID_SIGNATURE            = { status = 403, code = "access_denied", retryable = false, message = "The request's SigV4 signature does not match." }
    EXPIRED_TOKEN                = { status = 403, code = "access_denied", retryable = false, message = "The request's credentials have expired." }
    THROTTLED                    = { status = 429, code = "rate_limited", retryable = true, message = "Too many requests; slow down and retry." }
    REQUEST_TOO_LARGE            = { status = 413, code = "payload_too_large", retryable = false, message = "The request body is larger than this endpoint accepts." }
    UNSUPPORTED_MEDIA_TYPE       = { status = 415, code = "unsupported_content_type", retryable = false, message = "The request's Content-Type is not one this endpoint reads." }
    INTEGRATION_TIMEOUT          = { status = 504, code = "gateway_timeout", retryable = true, message = "The service did not answer in time; the request may be retried." }
    INTEGRATION_FAILURE          = { status = 502, code = "gateway_error", retryable = true, message = "The service could not be reached; the request may be retried." }
    DEFAULT_4XX                  = { status = 400, code = "request_rejected", retryable = false, message = "The request was refused before it reached the service." }
    DEFAULT_5XX                  = { status = 502, code = "gateway_error", retryable = true, message = "The service could not be reached; the request may be retried." }
  }

  gateway_responses = {
    for type, e in local.gateway_errors : type => {
      statusCode = e.status
      responseTemplates = {
        "application/json" = jsonencode({ error = { code = e.code, message = e.message, twilio_code = null, retryable = e.retryable } })
      }
    }
  }

  openapi = jsonencode({
    openapi = "3.0.1"
    info    = { title = local.prefix, version = "1.0" }
    paths   = local.openapi_paths
    # Part of the body, so a change to them redeploys the API like a route change does.
    "x-amazon-apigateway-gateway-responses" = local.gateway_responses
    components = {
      securitySchemes = {
        sigv4 = {
          type                           = "apiKey"
          name                           = "Authorization"
          in                             = "header"
          "x-amazon-apigateway-authtype" = "awsSigv4"
        }
      }
    }
  })

  # One JSON line per request; no query string, body or header values (phone numbers
  # and signatures stay out of logs).
  access_log_format = jsonencode({
    requestId          = "$context.requestId"
    requestTime        = "$context.requestTime"
    httpMethod         = "$context.httpMethod"
    resourcePath       = "$context.resourcePath"
    status             = "$context.status"
    responseLength     = "$context.responseLength"
    responseLatency    = "$context.responseLatency"
    integrationLatency = "$context.integrationLatency"
    integrationError   = "$context.integrationErrorMessage"
    sourceIp           = "$context.identity.sourceIp"
    caller             = "$context.identity.caller"
    xrayTraceId        = "$context.xrayTraceId"
  })
}

resource "aws_api_gateway_rest_api" "this" {
  name = local.prefix
  body = local.openapi

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id

  triggers = {
    redeployment = sha1(local.openapi)
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_338:Retention is log_retention_days, set per stage: prod keeps 365 days, dev 30 for short-lived test traffic.
  name              = "/aws/apigateway/${local.prefix}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120:Webhooks and sends are POSTs and message reads must be fresh: nothing to cache.
  #checkov:skip=CKV2_AWS_29:Twilio-facing routes reject unsigned requests before any write and the outbound API needs SigV4; a WAF web ACL can be attached per stage when traffic warrants it.
  #checkov:skip=CKV2_AWS_51:Callers authenticate by Twilio signature or SigV4; the Lambda integration is reached through AWS, not a backend that could check a client certificate.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  deployment_id        = aws_api_gateway_deployment.this.id
  stage_name           = var.stage
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format          = local.access_log_format
  }
}

resource "aws_api_gateway_method_settings" "this" {
  #checkov:skip=CKV_AWS_225:Webhooks and sends are POSTs and message reads must be fresh: caching stays off.
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = "ERROR"
    data_trace_enabled     = false
    caching_enabled        = false
    throttling_rate_limit  = var.throttle_rate_limit
    throttling_burst_limit = var.throttle_burst_limit
  }
}

resource "aws_lambda_permission" "api" {
  statement_id  = "AllowApiGateway"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["api"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/${var.stage}/*/*"
}
