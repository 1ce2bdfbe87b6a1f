"""API Gateway's own answers carry the project's error body, with taxonomy codes and statuses."""

from __future__ import annotations

from typing import Any

import pytest

from carrier_core import errors
from tests.infra.hcl import MODULES, local_values, text

SERVICE = MODULES / "service"
GATEWAY_ERRORS: dict[str, dict[str, Any]] = local_values(SERVICE)["gateway_errors"]


def taxonomy() -> dict[str, type[errors.CarrierError]]:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.CarrierError)]
    return {c.code: c for c in classes}


def test_the_responses_that_matter_are_mapped() -> None:
    assert {"MISSING_AUTHENTICATION_TOKEN", "THROTTLED", "REQUEST_TOO_LARGE", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(GATEWAY_ERRORS)


@pytest.mark.parametrize("response_type", sorted(GATEWAY_ERRORS))
def test_each_response_is_a_taxonomy_error(response_type: str) -> None:
    mapped = GATEWAY_ERRORS[response_type]
    error_cls = taxonomy().get(str(mapped["code"]))
    assert error_cls is not None, f"{mapped['code']} is not a code in carrier_core/errors.py"
    assert int(mapped["status"]) == error_cls.http_status
    assert mapped["retryable"] is error_cls.retryable
    assert mapped["message"] and "$" not in str(mapped["message"])


def test_unknown_path_is_not_found_like_the_app_answers() -> None:
    assert GATEWAY_ERRORS["MISSING_AUTHENTICATION_TOKEN"]["code"] == errors.RouteNotFound.code


def test_templates_render_the_error_shape_and_ride_in_the_api_body() -> None:
    source = text(SERVICE)
    assert "error = { code = e.code, message = e.message, twilio_code = null, retryable = e.retryable }" in source
    assert '"x-amazon-apigateway-gateway-responses" = local.gateway_responses' in source
