"""Settings, errors, opt-out keywords, log masking and metrics."""

from __future__ import annotations

import io
import json
import logging

import pytest

from carrier_core.errors import CarrierError, ConfigurationError, from_twilio_code
from carrier_core.logs import JsonFormatter, append_keys, clear_keys, mask_phone
from carrier_core.metrics import Metrics
from carrier_core.optout import OptOutAction, match_keyword
from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN, Settings

DEPLOYED = {
    "STAGE": "prod",
    "TWILIO_ACCOUNT_SID": "AC" + "f" * 32,
    "TWILIO_AUTH_TOKEN_PARAMETER": "/omni-twilio/prod/twilio-auth-token",
    "INBOUND_WEBHOOK_URL": "https://sms.example.com/twilio/inbound",
}


def read_secret(name: str, region: str) -> str:
    return f"secret-of:{name}"


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("STAGE", "STAGE"),
        ("TWILIO_ACCOUNT_SID", "TWILIO_ACCOUNT_SID"),
        ("TWILIO_AUTH_TOKEN_PARAMETER", "TWILIO_AUTH_TOKEN_PARAMETER"),
        ("INBOUND_WEBHOOK_URL", "INBOUND_WEBHOOK_URL"),
    ],
)
def test_missing_setting_is_named(missing: str, named: str) -> None:
    env = {k: v for k, v in DEPLOYED.items() if k != missing}
    with pytest.raises(ConfigurationError, match=named):
        Settings.from_env("inbound", env, read_secret=read_secret)


def test_deployed_stage_reads_token_from_ssm_parameter() -> None:
    settings = Settings.from_env("inbound", DEPLOYED, read_secret=read_secret)
    assert settings.account.auth_token == "secret-of:/omni-twilio/prod/twilio-auth-token"
    assert settings.messages_table == "omni-twilio-prod-messages"
    assert settings.optouts_table == "omni-twilio-prod-optouts"
    assert "secret-of" not in repr(settings)


def test_local_stage_has_documented_defaults_and_env_wins() -> None:
    local = {"STAGE": "local", "DYNAMODB_ENDPOINT": "http://127.0.0.1:8000", "INBOUND_WEBHOOK_URL": "http://x/twilio/inbound"}
    settings = Settings.from_env("inbound", local)
    assert (settings.account.account_sid, settings.account.auth_token) == (LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN)
    assert settings.account.default_from_number == "+15005550006"
    mine = Settings.from_env("inbound", {**local, "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "mine"})
    assert (mine.account.account_sid, mine.account.auth_token) == ("AC" + "1" * 32, "mine")


def test_unknown_stage_lists_the_stages() -> None:
    with pytest.raises(ConfigurationError, match="local, dev, prod"):
        Settings.from_env("inbound", {**DEPLOYED, "STAGE": "qa"}, read_secret=read_secret)


def test_secondary_token_joins_primary() -> None:
    env = {**DEPLOYED, "TWILIO_AUTH_TOKEN_SECONDARY_PARAMETER": "/old"}
    assert Settings.from_env("inbound", env, read_secret=read_secret).account.auth_tokens == (
        "secret-of:/omni-twilio/prod/twilio-auth-token",
        "secret-of:/old",
    )


KEY_SID = "SK" + "a" * 32


def test_api_key_is_used_for_rest_and_its_secret_read_from_ssm() -> None:
    env = {**DEPLOYED, "TWILIO_API_KEY_SID": KEY_SID, "TWILIO_API_KEY_SECRET_PARAMETER": "/omni-twilio/prod/twilio-api-key-secret"}
    settings = Settings.from_env(
        "outbound", {**env, "STATUS_WEBHOOK_URL": "https://sms.example.com/twilio/status"}, read_secret=read_secret
    )
    assert settings.account.rest_credentials == (KEY_SID, "secret-of:/omni-twilio/prod/twilio-api-key-secret")
    assert settings.account.auth_tokens == ("secret-of:/omni-twilio/prod/twilio-auth-token",)
    assert "secret-of" not in repr(settings)
    # Every deployed outbound stage names the parameter; without a key SID it is not read.
    without = Settings.from_env(
        "inbound", {**DEPLOYED, "TWILIO_API_KEY_SECRET_PARAMETER": "/p", "TWILIO_API_KEY_SID": ""}, read_secret=read_secret
    )
    assert without.account.rest_credentials == ("ACffffffffffffffffffffffffffffffff", "secret-of:/omni-twilio/prod/twilio-auth-token")


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"TWILIO_API_KEY_SID": KEY_SID}, "TWILIO_API_KEY_SECRET"),
        ({"TWILIO_API_KEY_SECRET": "s"}, "TWILIO_API_KEY_SID"),
        ({"TWILIO_API_KEY_SID": "AC" + "a" * 32, "TWILIO_API_KEY_SECRET": "s"}, "SK followed by 32"),
        ({"TWILIO_MESSAGING_SERVICE_SID": "MG123"}, "TWILIO_MESSAGING_SERVICE_SID"),
        ({"TWILIO_INBOUND_WEBHOOK_URL": "https://other.example.com/in"}, "TWILIO_INBOUND_WEBHOOK_URL and INBOUND_WEBHOOK_URL"),
        (
            {"TWILIO_STATUS_CALLBACK_URL": "https://a.example.com/s", "STATUS_WEBHOOK_URL": "https://b.example.com/s"},
            "TWILIO_STATUS_CALLBACK_URL and STATUS_WEBHOOK_URL",
        ),
    ],
)
def test_inconsistent_twilio_settings_fail_at_start_naming_them(extra: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        Settings.from_env("inbound", {**DEPLOYED, **extra}, read_secret=read_secret)


def test_the_seed_names_are_aliases() -> None:
    env = {k: v for k, v in DEPLOYED.items() if k != "INBOUND_WEBHOOK_URL"}
    seed = {
        "TWILIO_INBOUND_WEBHOOK_URL": "https://sms.example.com/twilio/inbound",
        "TWILIO_STATUS_CALLBACK_URL": "https://sms.example.com/twilio/status",
        "TWILIO_MESSAGING_SERVICE_SID": "MG" + "b" * 32,
        "TWILIO_DEFAULT_FROM_NUMBER": "+15005550006",
    }
    settings = Settings.from_env("outbound", {**env, **seed}, read_secret=read_secret)
    assert (settings.account.inbound_webhook_url, settings.account.status_webhook_url) == (
        "https://sms.example.com/twilio/inbound",
        "https://sms.example.com/twilio/status",
    )
    assert (settings.account.default_messaging_service_sid, settings.account.default_from_number) == (
        "MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        "+15005550006",
    )
    # The same value under both names is no conflict.
    same = Settings.from_env(
        "inbound", {**DEPLOYED, "TWILIO_INBOUND_WEBHOOK_URL": DEPLOYED["INBOUND_WEBHOOK_URL"]}, read_secret=read_secret
    )
    assert same.account.inbound_webhook_url == "https://sms.example.com/twilio/inbound"


# The taxonomy as the API documents it, written out by hand: code -> (HTTP status, retryable).
# Codes are API: a rename, a reuse or a changed status shows up here.
ERRORS = {
    "invalid_signature": (403, False),
    "account_mismatch": (403, False),
    "tenant_not_found": (404, False),
    "sender_not_allowed": (403, False),
    "missing_field": (400, False),
    "invalid_field": (400, False),
    "malformed_body": (400, False),
    "media_mismatch": (400, False),
    "payload_too_large": (413, False),
    "unsupported_content_type": (415, False),
    "unknown_status": (400, False),
    "method_not_allowed": (405, False),
    "message_not_found": (404, False),
    "not_found": (404, False),
    "access_denied": (403, False),
    "request_rejected": (400, False),
    "idempotency_conflict": (409, False),
    "idempotency_in_progress": (409, True),
    "too_many_media": (400, False),
    "invalid_media_url": (400, False),
    "value_not_storable": (400, False),
    "invalid_message_id": (400, False),
    "schedule_requires_messaging_service": (400, False),
    "invalid_send_at": (400, False),
    "not_cancelable": (409, False),
    "invalid_phone_number": (400, False),
    "invalid_sender": (400, False),
    "region_not_permitted": (400, False),
    "sender_not_capable": (400, False),
    "recipient_opted_out": (403, False),
    "sender_queue_full": (429, True),
    "recipient_unreachable": (400, False),
    "not_mobile_number": (400, False),
    "unsupported_media_type": (400, False),
    "media_unreachable": (400, False),
    "media_too_large": (400, False),
    "media_url_forbidden": (400, False),
    "media_response_invalid": (400, False),
    "media_not_found": (404, False),
    "message_too_long": (400, False),
    "carrier_unreachable": (502, False),
    "message_blocked": (502, False),
    "unknown_destination": (502, False),
    "landline_or_unreachable": (502, False),
    "carrier_violation": (502, False),
    "unknown_carrier_error": (502, True),
    "twilio_authentication_failed": (502, False),
    "rate_limited": (429, True),
    "twilio_unavailable": (503, True),
    "message_not_complete": (409, True),
    "invalid_requested_by": (400, False),
    "erasure_not_found": (404, False),
    "twilio_rejected": (400, False),
    "gateway_error": (502, True),
    "gateway_timeout": (504, True),
    "storage_unavailable": (503, True),
    "configuration_error": (500, False),
    "internal_error": (500, False),
    "whatsapp_session_expired": (400, False),
    "template_with_body": (400, False),
    "template_not_approved": (400, False),
    "template_variables_invalid": (400, False),
    "template_not_found": (400, False),
    "channel_provider_error": (502, True),
}


def test_error_codes_are_the_documented_ones_and_bodies_complete() -> None:
    classes = [
        cls
        for cls in vars(__import__("carrier_core.errors", fromlist=["x"])).values()
        if isinstance(cls, type) and issubclass(cls, CarrierError) and cls is not CarrierError
    ]
    assert len(classes) == len(ERRORS), "two error classes share a code, or one is not in ERRORS"
    assert {cls.code: (cls.http_status, cls.retryable) for cls in classes} == ERRORS
    for cls in classes:
        assert cls.__doc__, cls.__name__
        body = cls("a message").to_body()["error"]
        assert body == {"code": cls.code, "message": "a message", "twilio_code": None, "retryable": ERRORS[cls.code][1]}


# Twilio's error codes and what each becomes (https://www.twilio.com/docs/api/errors); any
# other code is twilio_rejected, keeping Twilio's number.
TWILIO_ERRORS = {
    20003: "twilio_authentication_failed",
    20429: "rate_limited",
    21211: "invalid_phone_number",
    21212: "invalid_sender",
    21408: "region_not_permitted",
    21602: "missing_field",
    21606: "sender_not_capable",
    21610: "recipient_opted_out",
    21611: "sender_queue_full",
    21612: "recipient_unreachable",
    21614: "not_mobile_number",
    21617: "message_too_long",
    21619: "missing_field",
    21620: "unsupported_media_type",
    21623: "invalid_field",
    30001: "sender_queue_full",
    30002: "twilio_authentication_failed",
    30003: "carrier_unreachable",
    30004: "message_blocked",
    30005: "unknown_destination",
    30006: "landline_or_unreachable",
    30007: "carrier_violation",
    30008: "unknown_carrier_error",
    63016: "whatsapp_session_expired",
    63012: "channel_provider_error",
    63013: "template_variables_invalid",
    63018: "rate_limited",
    63040: "template_not_approved",
    63041: "template_not_approved",
    63042: "template_not_approved",
    92007: "template_variables_invalid",
    30409: "not_cancelable",
    35111: "invalid_send_at",
    35114: "invalid_send_at",
    35118: "schedule_requires_messaging_service",
    99999: "twilio_rejected",
    21999: "twilio_rejected",
}


@pytest.mark.parametrize(
    ("twilio_code", "code", "retryable"),
    [
        (21211, "invalid_phone_number", False),
        (21610, "recipient_opted_out", False),
        (20429, "rate_limited", True),
        (30003, "carrier_unreachable", False),
        # WhatsApp templates: rejected, paused, disabled and bad variables are final;
        # the provider's own server error and its rate limit may be tried again.
        (63040, "template_not_approved", False),
        (63041, "template_not_approved", False),
        (63042, "template_not_approved", False),
        (63013, "template_variables_invalid", False),
        (92007, "template_variables_invalid", False),
        (63012, "channel_provider_error", True),
        (63018, "rate_limited", True),
        (99999, "twilio_rejected", False),
    ],
)
def test_twilio_codes_map_into_the_taxonomy(twilio_code: int, code: str, retryable: bool) -> None:
    error = from_twilio_code(twilio_code, "from Twilio")
    assert (error.code, error.retryable, error.twilio_code) == (code, retryable, twilio_code)


def test_every_twilio_code_maps_as_documented() -> None:
    assert {n: from_twilio_code(n).code for n in TWILIO_ERRORS} == TWILIO_ERRORS
    assert from_twilio_code(None).code == "unknown_carrier_error"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", ("STOP", OptOutAction.STOP)),
        ("  stop ", ("STOP", OptOutAction.STOP)),
        ("Unsubscribe", ("UNSUBSCRIBE", OptOutAction.STOP)),
        ("quit!", ("QUIT", OptOutAction.STOP)),
        ("StopAll", ("STOPALL", OptOutAction.STOP)),
        ("cancel", ("CANCEL", OptOutAction.STOP)),
        ("end", ("END", OptOutAction.STOP)),
        ("revoke", ("REVOKE", OptOutAction.STOP)),
        ("OptOut", ("OPTOUT", OptOutAction.STOP)),
        ("start", ("START", OptOutAction.START)),
        ("Unstop", ("UNSTOP", OptOutAction.START)),
        ("yes", ("YES", OptOutAction.START)),
        ("HELP", ("HELP", OptOutAction.HELP)),
        ("info", ("INFO", OptOutAction.HELP)),
        ("opt out", None),
        ("please stop texting me", None),
        ("", None),
        (None, None),
    ],
)
def test_opt_out_keywords(body: str | None, expected: tuple[str, OptOutAction] | None) -> None:
    assert match_keyword(body) == expected


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+15005550006", "***0006"),
        ("whatsapp:+15005550006", "whatsapp:***0006"),
        ("123", "***"),
        (None, None),
    ],
)
def test_mask_phone(number: str | None, masked: str | None) -> None:
    assert mask_phone(number) == masked


def test_json_log_line_carries_keys_and_extra() -> None:
    clear_keys(service="inbound", stage="local")
    append_keys(request_id="r-1")
    record = logging.makeLogRecord({"name": "x", "levelname": "INFO", "msg": "inbound stored", "message_sid": "SM1"})
    line = json.loads(JsonFormatter().format(record))
    assert line == {
        "level": "INFO",
        "logger": "x",
        "message": "inbound stored",
        "service": "inbound",
        "stage": "local",
        "request_id": "r-1",
        "message_sid": "SM1",
    }


def test_metrics_flush_emf_once_and_refuse_undeclared() -> None:
    out = io.StringIO()
    metrics = Metrics("inbound", "dev", stream=out)
    metrics.add("InboundStored", channel="sms")
    metrics.add("InboundStored", channel="sms")
    metrics.add("WebhookRejected", error_code="invalid_signature")
    metrics.flush()
    metrics.flush()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 2
    stored = next(line for line in lines if "InboundStored" in line)
    assert stored["InboundStored"] == 2 and stored["channel"] == "sms" and stored["service"] == "inbound"
    assert stored["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["channel", "service", "stage"], ["service", "stage"]]
    with pytest.raises(ValueError, match="not declared"):
        metrics.add("SomethingNew")


def test_a_timed_out_request_reads_as_no_answer_not_attribute_error() -> None:
    from botocore.exceptions import ClientError, ReadTimeoutError
    from pynamodb.exceptions import UpdateError

    from carrier_core.storage import is_condition_failure, response_code

    timeout = UpdateError("Failed to update item", ReadTimeoutError(endpoint_url="http://127.0.0.1:8000"))
    with pytest.raises(AttributeError):
        _ = timeout.cause_response_code  # PynamoDB 6.1's own property: what the helper guards against
    assert (response_code(timeout), is_condition_failure(timeout)) == (None, False)
    refused = UpdateError("x", ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "no"}}, "UpdateItem"))
    assert (response_code(refused), is_condition_failure(refused)) == ("ConditionalCheckFailedException", True)
