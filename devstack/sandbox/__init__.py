"""The Twilio sandbox: the Messages subset of Twilio's REST API, as test credentials behave,
and where an account's numbers and Messaging Services send their webhooks.

Twilio's routes (basic auth as the path's account: its SID and auth token, or one of its API
keys; each account sees its own messages only):
  POST /2010-04-01/Accounts/{AccountSid}/Messages.json       create; 201 Message resource
  GET  /2010-04-01/Accounts/{AccountSid}/Messages.json       list; To, From, DateSent[<>], paging
  GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json  fetch; 404 code 20404 if unknown
  GET/POST /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json         list; buy a number
  GET/POST /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json   fetch; update
  GET/POST /v1/Services, GET/POST /v1/Services/{Sid}   Messaging v1 (messaging.twilio.com):
                              list, create; fetch, update (devstack/sandbox/numbers.py)
  GET  /v1/Content, /v1/Content/{Sid}, /v1/Content/{Sid}/ApprovalRequests   Content v1
                              (content.twilio.com): templates and their WhatsApp approval
                              (devstack/sandbox/content.py)
Control API for tests (no auth; not part of Twilio):
  POST   /_sandbox/faults     {"status": 429|500|502|503, "count": N|-1, "retry_after": s|"value",
                               "after_create": bool, "delay": s}
  GET    /_sandbox/faults     the armed fault or null; DELETE clears it
  GET    /_sandbox/requests   every create received, faulted ones too; DELETE resets
  GET    /_sandbox/searches   every Messages list request received; DELETE resets
  GET    /_sandbox/callbacks  every status callback sent and its answer; DELETE resets
  POST   /_sandbox/content    {"friendly_name", "variables"?, "whatsapp"?: {"status", ...}|null, ...}:
                              a template in any approval status; GET lists every one
  POST   /_sandbox/content/{Sid}   {"status", "rejection_reason"?}: its WhatsApp approval moves
  GET    /_sandbox/content-requests   every Content API request received; DELETE resets
  POST   /_sandbox/accounts   {"account_sid", "auth_token", "api_key_sid", "api_key_secret"}:
                              201 added, 200 already there the same, 409 there with others
  GET    /_sandbox/accounts   every hosted account, never a secret
  PUT    /_sandbox/accounts/{AccountSid}   {"auth_token"?, "api_key_sid"?, "api_key_secret"?}
                              rotates the credentials given (devstack/sandbox/accounts.py)
  GET    /health
  POST   /_sandbox/inbound    {"from", "to", "body", "account_sid"?, "deliver"?, "url"?, "sid"?}:
                              an inbound message and its signed webhook (devstack/sandbox/inbound.py)
Hosted media (Twilio-shaped media URLs, /_sandbox/media): devstack/sandbox/media.py.
Run it with `python -m devstack.sandbox --port N`; tests start it in-process with `start()`.
"""

from __future__ import annotations

import threading

from devstack.sandbox.server import Sandbox, SandboxServer

__all__ = ["Sandbox", "SandboxServer", "start"]


def start(sandbox: Sandbox | None = None, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
    """Serve a sandbox on a background thread (port 0: an ephemeral one); `shutdown()` and
    `server_close()` stop it."""
    server = SandboxServer((host, port), sandbox or Sandbox.from_env())
    # A short poll interval keeps shutdown() quick for tests that start one per case.
    threading.Thread(target=server.serve_forever, args=(0.05,), name="sandbox-http", daemon=True).start()
    return server
