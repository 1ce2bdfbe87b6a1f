"""The error taxonomy: every failure has a stable code, an HTTP status and a retry flag.

Codes are API. Never rename or reuse one; add a new class instead.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CarrierError(Exception):
    """Base of every failure the carrier reports."""

    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(self, message: str | None = None, *, twilio_code: int | None = None) -> None:
        self.message = message or (self.__doc__ or self.code).strip()
        self.twilio_code = twilio_code
        super().__init__(self.message)

    def to_body(self) -> dict[str, Any]:
        """The JSON body every error response carries."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "twilio_code": self.twilio_code,
                "retryable": self.retryable,
            }
        }


# ---- request problems (4xx) -------------------------------------------------


class InvalidSignature(CarrierError):
    """X-Twilio-Signature is missing or does not match."""

    code, http_status, retryable = "invalid_signature", 403, False


class MissingField(CarrierError):
    """A required field is missing from the request."""

    code, http_status, retryable = "missing_field", 400, False


class InvalidField(CarrierError):
    """A field is present but its value is not acceptable."""

    code, http_status, retryable = "invalid_field", 400, False


class MalformedBody(CarrierError):
    """The request body cannot be parsed."""

    code, http_status, retryable = "malformed_body", 400, False


class MediaMismatch(CarrierError):
    """NumMedia disagrees with the MediaUrlN/MediaContentTypeN fields sent."""

    code, http_status, retryable = "media_mismatch", 400, False


class PayloadTooLarge(CarrierError):
    """The request body is larger than this endpoint accepts."""

    code, http_status, retryable = "payload_too_large", 413, False


class UnsupportedContentType(CarrierError):
    """The request's Content-Type is not one this endpoint reads."""

    code, http_status, retryable = "unsupported_content_type", 415, False


class UnknownStatus(CarrierError):
    """A message status is not one of Twilio's; the message lists the accepted ones."""

    code, http_status, retryable = "unknown_status", 400, False


class MethodNotAllowed(CarrierError):
    """The HTTP method is not supported on this path."""

    code, http_status, retryable = "method_not_allowed", 405, False


class MessageNotFound(CarrierError):
    """No message with that SID is stored."""

    code, http_status, retryable = "message_not_found", 404, False


class AccountMismatch(CarrierError):
    """The webhook is signed with the tenant's token but names another Twilio account."""

    code, http_status, retryable = "account_mismatch", 403, False


class TenantNotFound(CarrierError):
    """No tenant with that id is registered."""

    code, http_status, retryable = "tenant_not_found", 404, False


class SenderNotAllowed(CarrierError):
    """The sender (from or messaging_service_sid) is not registered for the tenant."""

    code, http_status, retryable = "sender_not_allowed", 403, False


class RouteNotFound(CarrierError):
    """No such endpoint."""

    code, http_status, retryable = "not_found", 404, False


class AccessDenied(CarrierError):
    """The caller is not allowed to call this endpoint (API Gateway's SigV4 check)."""

    code, http_status, retryable = "access_denied", 403, False


class RequestRejected(CarrierError):
    """The request was refused before it reached the service (API Gateway or the local server)."""

    code, http_status, retryable = "request_rejected", 400, False


class IdempotencyConflict(CarrierError):
    """The Idempotency-Key was already used with a different request."""

    code, http_status, retryable = "idempotency_conflict", 409, False


class IdempotencyInProgress(CarrierError):
    """A request with this Idempotency-Key is still being processed; try again shortly."""

    code, http_status, retryable = "idempotency_in_progress", 409, True


class TooManyMedia(CarrierError):
    """A message may carry at most 10 media URLs."""

    code, http_status, retryable = "too_many_media", 400, False


class InvalidMediaUrl(CarrierError):
    """A media URL is not an absolute https URL."""

    code, http_status, retryable = "invalid_media_url", 400, False


class ValueNotStorable(CarrierError):
    """A value in the request is too large to be stored (a key over 2048 bytes, an item over 400 KB)."""

    code, http_status, retryable = "value_not_storable", 400, False


class InvalidMessageId(CarrierError):
    """The message id is not an id this API ever issues (a Twilio SID or an RQ retry id)."""

    code, http_status, retryable = "invalid_message_id", 400, False


class ScheduleRequiresMessagingService(CarrierError):
    """A scheduled send (send_at) must go through a Messaging Service."""

    code, http_status, retryable = "schedule_requires_messaging_service", 400, False


class InvalidSendAt(CarrierError):
    """send_at is not an RFC 3339 time inside Twilio's scheduling window."""

    code, http_status, retryable = "invalid_send_at", 400, False


class NotCancelable(CarrierError):
    """Only a scheduled message can be canceled; this one is not (or no longer) scheduled."""

    code, http_status, retryable = "not_cancelable", 409, False


class ErasureNotFound(CarrierError):
    """No erasure with this id (for this tenant)."""

    code, http_status, retryable = "erasure_not_found", 404, False


class RedactionRequesterInvalid(CarrierError):
    """A redaction's `requested_by` is not a short printable name."""

    code, http_status, retryable = "invalid_requested_by", 400, False


# ---- Twilio's answers about the message (mapped from Twilio error codes) ----


class InvalidPhoneNumber(CarrierError):
    """The recipient is not a valid phone number."""

    code, http_status, retryable = "invalid_phone_number", 400, False


class InvalidSender(CarrierError):
    """The sender is not a valid phone number or messaging service for this account."""

    code, http_status, retryable = "invalid_sender", 400, False


class RegionNotPermitted(CarrierError):
    """The account may not send to the recipient's region."""

    code, http_status, retryable = "region_not_permitted", 400, False


class SenderNotCapable(CarrierError):
    """The sender cannot send this kind of message."""

    code, http_status, retryable = "sender_not_capable", 400, False


class RecipientOptedOut(CarrierError):
    """The recipient replied STOP to this sender and may not be messaged."""

    code, http_status, retryable = "recipient_opted_out", 403, False


class SenderQueueFull(CarrierError):
    """The sender's outbound queue is full."""

    code, http_status, retryable = "sender_queue_full", 429, True


class RecipientUnreachable(CarrierError):
    """The recipient cannot receive messages from this sender."""

    code, http_status, retryable = "recipient_unreachable", 400, False


class NotMobileNumber(CarrierError):
    """The recipient is not a mobile number."""

    code, http_status, retryable = "not_mobile_number", 400, False


class UnsupportedMediaType(CarrierError):
    """A media item's type or size is not accepted for MMS."""

    code, http_status, retryable = "unsupported_media_type", 400, False


class MediaUnreachable(CarrierError):
    """A media URL did not answer, or answered with an error, within the time allowed."""

    code, http_status, retryable = "media_unreachable", 400, False


class MediaTooLarge(CarrierError):
    """A media item, or a message's media together, is over Twilio's size limit."""

    code, http_status, retryable = "media_too_large", 400, False


class MediaUrlForbidden(CarrierError):
    """A media URL's scheme or address (private, loopback, link-local, metadata) is refused."""

    code, http_status, retryable = "media_url_forbidden", 400, False


class MediaResponseInvalid(CarrierError):
    """A media server's answer cannot be read: a length that is not a plain number, say."""

    code, http_status, retryable = "media_response_invalid", 400, False


class MediaNotFound(CarrierError):
    """The message has no stored copy of that media item."""

    code, http_status, retryable = "media_not_found", 404, False


class MessageTooLong(CarrierError):
    """The message body exceeds the 1600 character limit."""

    code, http_status, retryable = "message_too_long", 400, False


class WhatsAppSessionExpired(CarrierError):
    """The customer has not written to this WhatsApp sender in 24 hours: only a template may be sent."""

    code, http_status, retryable = "whatsapp_session_expired", 400, False


class TemplateWithBody(CarrierError):
    """A template send (content_sid) also carries a body or media: the template holds the content."""

    code, http_status, retryable = "template_with_body", 400, False


class TemplateNotApproved(CarrierError):
    """The template is not approved for WhatsApp (pending, rejected, paused, disabled or never submitted)."""

    code, http_status, retryable = "template_not_approved", 400, False


class TemplateVariablesInvalid(CarrierError):
    """The variables do not match the template's: one it does not declare, or one it declares missing."""

    code, http_status, retryable = "template_variables_invalid", 400, False


class TemplateNotFound(CarrierError):
    """No template with that content_sid exists in the Twilio account."""

    code, http_status, retryable = "template_not_found", 400, False


class CarrierUnreachable(CarrierError):
    """The destination handset was unreachable."""

    code, http_status, retryable = "carrier_unreachable", 502, False


class MessageBlocked(CarrierError):
    """The carrier blocked the message."""

    code, http_status, retryable = "message_blocked", 502, False


class UnknownDestination(CarrierError):
    """The destination number is unknown to the carrier."""

    code, http_status, retryable = "unknown_destination", 502, False


class LandlineOrUnreachable(CarrierError):
    """The destination is a landline or an unreachable carrier."""

    code, http_status, retryable = "landline_or_unreachable", 502, False


class CarrierViolation(CarrierError):
    """The carrier filtered the message as a violation."""

    code, http_status, retryable = "carrier_violation", 502, False


class UnknownCarrierError(CarrierError):
    """The carrier reported an unknown error."""

    code, http_status, retryable = "unknown_carrier_error", 502, True


class ChannelProviderError(CarrierError):
    """The channel's provider (WhatsApp) answered Twilio with a server error; the send may be tried again."""

    code, http_status, retryable = "channel_provider_error", 502, True


# ---- our side or Twilio's side is not working (5xx, 429) ---------------------


class TwilioAuthenticationFailed(CarrierError):
    """Twilio rejected our account credentials."""

    code, http_status, retryable = "twilio_authentication_failed", 502, False


class MessageNotComplete(CarrierError):
    """Twilio cannot redact or delete a message until it is complete (20009); try later."""

    code, http_status, retryable = "message_not_complete", 409, True


class RateLimited(CarrierError):
    """Twilio asked us to slow down."""

    code, http_status, retryable = "rate_limited", 429, True


class TwilioUnavailable(CarrierError):
    """Twilio did not answer, or answered with a server error."""

    code, http_status, retryable = "twilio_unavailable", 503, True


class TwilioRejected(CarrierError):
    """Twilio rejected the request for a reason with no code of its own here."""

    code, http_status, retryable = "twilio_rejected", 400, False


class GatewayError(CarrierError):
    """The service could not be reached; the request may be retried."""

    code, http_status, retryable = "gateway_error", 502, True


class GatewayTimeout(CarrierError):
    """The service did not answer in time; the request may be retried."""

    code, http_status, retryable = "gateway_timeout", 504, True


class StorageUnavailable(CarrierError):
    """The message store cannot be reached; the request may be retried."""

    code, http_status, retryable = "storage_unavailable", 503, True


class ConfigurationError(CarrierError):
    """The service is missing a required setting."""

    code, http_status, retryable = "configuration_error", 500, False


class InternalError(CarrierError):
    """An unexpected error occurred."""

    code, http_status, retryable = "internal_error", 500, False


# Twilio's error codes, https://www.twilio.com/docs/api/errors, into the taxonomy.
TWILIO_CODES: dict[int, type[CarrierError]] = {
    20003: TwilioAuthenticationFailed,
    20009: MessageNotComplete,
    20429: RateLimited,
    21211: InvalidPhoneNumber,
    21212: InvalidSender,
    21408: RegionNotPermitted,
    21602: MissingField,
    21606: SenderNotCapable,
    21610: RecipientOptedOut,
    21611: SenderQueueFull,
    21612: RecipientUnreachable,
    21614: NotMobileNumber,
    21617: MessageTooLong,
    21619: MissingField,
    21620: UnsupportedMediaType,
    21623: InvalidField,
    30001: SenderQueueFull,
    30002: TwilioAuthenticationFailed,
    30003: CarrierUnreachable,
    30004: MessageBlocked,
    30005: UnknownDestination,
    30006: LandlineOrUnreachable,
    30007: CarrierViolation,
    30008: UnknownCarrierError,
    # WhatsApp: https://www.twilio.com/docs/api/errors (630xx)
    63012: ChannelProviderError,
    63013: TemplateVariablesInvalid,
    63016: WhatsAppSessionExpired,
    63018: RateLimited,
    63040: TemplateNotApproved,
    63041: TemplateNotApproved,
    63042: TemplateNotApproved,
    92007: TemplateVariablesInvalid,
    # Scheduling: https://www.twilio.com/docs/messaging/features/message-scheduling
    30409: NotCancelable,
    35111: InvalidSendAt,
    35114: InvalidSendAt,
    35118: ScheduleRequiresMessagingService,
}


def from_twilio_code(twilio_code: int | None, message: str | None = None) -> CarrierError:
    """The taxonomy error for a Twilio error code; unknown codes keep the code."""
    if twilio_code is None:
        return UnknownCarrierError(message)
    error_cls = TWILIO_CODES.get(twilio_code, TwilioRejected)
    return error_cls(message, twilio_code=twilio_code)
