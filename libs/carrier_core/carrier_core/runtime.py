"""A service's process-wide state: settings, bound models, logging and metrics."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, cast

from carrier_core.logs import clear_keys, configure_logging
from carrier_core.metrics import Metrics
from carrier_core.models import bind_models
from carrier_core.settings import Settings
from carrier_core.tenants import TenantDirectory
from carrier_core.web import error_code_of, translate_framework_error


class Runtime:
    """Built once per cold start; `start()` fails fast, naming any missing setting."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._settings: Settings | None = None
        self._metrics: Metrics | None = None
        self._tenants: TenantDirectory | None = None
        self._lock = threading.Lock()

    def start(self) -> Settings:
        """Read settings, bind the models and set up logging, once."""
        with self._lock:
            if self._settings is None:
                settings = Settings.from_env(self.service)
                configure_logging(self.service, settings.stage)
                bind_models(settings)
                self._metrics = Metrics(self.service, settings.stage)
                self._settings = settings
        return self._settings

    def start_unless_packaging(self) -> None:
        """Start at import, except while the Chalice CLI imports the app to package or serve it."""
        if not os.environ.get("AWS_CHALICE_CLI_MODE"):
            self.start()

    @property
    def settings(self) -> Settings:
        return self._settings or self.start()

    @property
    def metrics(self) -> Metrics:
        if self._metrics is None:
            self.start()
        return cast(Metrics, self._metrics)  # start() set it

    @property
    def tenants(self) -> TenantDirectory:
        """The container's tenant cache (carrier_core.tenants)."""
        if self._tenants is None:
            settings = self.settings  # outside the lock: start() takes it
            with self._lock:
                if self._tenants is None:
                    self._tenants = TenantDirectory(settings)
        return self._tenants

    def begin_request(self, request_id: str | None) -> None:
        """Reset the log correlation keys for a new request."""
        settings = self.settings
        clear_keys(service=self.service, stage=settings.stage, request_id=request_id)

    def attach(self, app: Any, response_cls: Callable[..., Any]) -> None:
        """Register the one middleware of every function of `app` (a Chalice app, duck-typed):
        around_request for an HTTP route, around_event for a stream or scheduled function."""

        def per_invocation(event: Any, get_response: Callable[[Any], Any]) -> Any:
            if hasattr(event, "method"):  # chalice.app.Request: an API route
                return self.around_request(event, get_response, response_cls)
            return self.around_event(event, get_response)

        app.register_middleware(per_invocation, "all")

    def around_event(self, event: Any, get_response: Callable[[Any], Any]) -> Any:
        """Non-HTTP middleware body: correlation keys in, metrics flushed, whatever happens."""
        self.begin_request(getattr(getattr(event, "context", None), "aws_request_id", None))
        try:
            return get_response(event)
        finally:
            self.metrics.flush()

    @staticmethod
    def time_left(context: Any, budget: float | None = None) -> Callable[[], float]:
        """Seconds this invocation may still use: the Lambda's remaining time, within `budget`.

        `context` is the invocation's Lambda context (Chalice sets app.lambda_context only for
        HTTP routes; a stream or scheduled function gets it on its event).
        """
        started = time.monotonic()

        def left() -> float:
            remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else float("inf")
            return min(remaining, budget - (time.monotonic() - started)) if budget is not None else remaining

        return left

    def around_request(self, request: Any, get_response: Callable[[Any], Any], response_cls: Callable[..., Any]) -> Any:
        """HTTP middleware body: correlation keys in, framework errors out, metrics flushed."""
        context = getattr(request, "context", None) or {}
        # API Gateway names every request; chalice local does not, so make one up there.
        self.begin_request(context.get("requestId") or uuid.uuid4().hex)
        try:
            response = get_response(request)
            translated = translate_framework_error(response.status_code, response.body)
            if translated is not None:
                status, headers, body = translated
                response = response_cls(body=body, headers=headers, status_code=status)
            if response.status_code >= 400:
                self.metrics.add("WebhookRejected", error_code=error_code_of(response.body))
            return response
        finally:
            self.metrics.flush()
