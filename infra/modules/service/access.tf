# What each service's code does, in one place: the DynamoDB actions it calls per table
# and the routes its Chalice app serves. The role and the API are built from these.
#
# These lists must change together with the code and with TABLE_ACTIONS in
# tests/infra/test_service.py, which compares them; a route added to an app.py without
# a line here fails the same tests.

locals {
  # Key: a table of var.tables, or "<table>/index/<index name>" for a secondary index.
  # A TransactWriteItems call is authorised per item by that item's action (PutItem).
  table_actions = {
    inbound = {
      # store.py: one conditional put, or a transaction of puts for a STOP/START;
      # health.py: DescribeTable; the media re-host (carrier_core.media.rehost): one
      # conditional UpdateItem per message that finishes its media.
      messages = ["dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:UpdateItem"]
      optouts  = ["dynamodb:DescribeTable", "dynamodb:PutItem"]
      # A tenant's configuration, read by key when a container first meets the tenant.
      tenants = ["dynamodb:GetItem"]
    }
    status = {
      # one conditional UpdateItem per callback (an unknown SID is an upsert); a callback
      # with Twilio's 21610 also puts the recipient's opt-out; one with WhatsApp's 63018
      # reads its message and puts the send back in the failed-message store, once
      # (chalicelib/requeue.py: a conditional PutItem).
      messages        = ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:UpdateItem"]
      failed_messages = ["dynamodb:PutItem"]
      optouts         = ["dynamodb:PutItem"]
      tenants         = ["dynamodb:GetItem"]
    }
    outbound = {
      # store.py: the accepted message (UpdateItem via record_status), GET /messages;
      # the failed-message store and the retry worker's claims; opt-out reads (a GetItem,
      # or a BatchGetItem for a number and a messaging service, and a PutItem when Twilio
      # answers 21610); Idempotency-Key claims, released with a conditional DeleteItem when
      # a send is refused for good. A keyed send's two transactions: ConditionCheckItem on
      # the opt-outs with the claim's PutItem, then the message's UpdateItem with the claim's.
      # The reconciler (chalicelib/reconcile.py): a BatchGetItem of each page's SIDs, the
      # inbound webhook's put (and its STOP/START transaction) for a message we lack, a
      # status's UpdateItem; every tenant (a Scan), each account's checkpoint (GetItem,
      # PutItem) under a tenants-table key no tenant id can take. A free-form WhatsApp
      # send's window (chalicelib/window.py): one Query of the sparse whatsapp_window index.
      # A customer's erasure (chalicelib/erasure.py): Queries of the customer index. The
      # reconciler's count of scheduled messages (chalicelib/scheduled_count.py): a Scan of
      # the sparse scheduled index.
      messages                         = ["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
      "messages/index/whatsapp_window" = ["dynamodb:Query"]
      "messages/index/customer"        = ["dynamodb:Query"]
      "messages/index/scheduled"       = ["dynamodb:Scan"]
      failed_messages                  = ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
      "failed_messages/index/due"      = ["dynamodb:Query"]
      optouts                          = ["dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem"]
      idempotency                      = ["dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
      tenants                          = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"]
    }
  }

  # Chalice routes by exact resource path: Chalice finds a view by the API Gateway
  # resource path, so a catch-all {proxy+} resource would reach no view. A tenant's
  # routes carry it in the path, chosen before the body is read: a webhook at
  # /twilio/{tenant}/..., every message route again under /tenants/{tenant}; the
  # routes without a tenant serve the tenant `default`.
  routes = {
    inbound = [
      { method = "POST", path = "/twilio/inbound" },
      { method = "POST", path = "/twilio/{tenant}/inbound" },
      { method = "GET", path = "/health" },
    ]
    status = [
      { method = "POST", path = "/twilio/status" },
      { method = "POST", path = "/twilio/{tenant}/status" },
      { method = "GET", path = "/health" },
    ]
    outbound = [
      { method = "POST", path = "/messages" },
      { method = "GET", path = "/messages/{sid}" },
      { method = "GET", path = "/messages/{sid}/media/{n}" },
      { method = "POST", path = "/messages/{sid}/cancel" },
      { method = "POST", path = "/messages/{sid}/redact" },
      { method = "POST", path = "/contacts/{identity}/erase" },
      { method = "GET", path = "/erasures/{erasure_id}" },
      { method = "POST", path = "/tenants/{tenant}/messages" },
      { method = "GET", path = "/tenants/{tenant}/messages/{sid}" },
      { method = "GET", path = "/tenants/{tenant}/messages/{sid}/media/{n}" },
      { method = "POST", path = "/tenants/{tenant}/messages/{sid}/cancel" },
      { method = "POST", path = "/tenants/{tenant}/messages/{sid}/redact" },
      { method = "POST", path = "/tenants/{tenant}/contacts/{identity}/erase" },
      { method = "GET", path = "/tenants/{tenant}/erasures/{erasure_id}" },
      { method = "GET", path = "/health" },
    ]
  }

  # The webhook a service serves and the setting that tells it the URL Twilio signs;
  # tenant_path is a tenant's webhook, `{tenant}` standing for its id.
  webhooks = {
    inbound = { variable = "INBOUND_WEBHOOK_URL", path = "/twilio/inbound", tenant_path = "/twilio/{tenant}/inbound" }
    status  = { variable = "STATUS_WEBHOOK_URL", path = "/twilio/status", tenant_path = "/twilio/{tenant}/status" }
  }
}
