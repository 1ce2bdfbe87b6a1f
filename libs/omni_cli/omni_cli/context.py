"""Where a stage lives and how to talk to it: the addresses, the settings, masking, HTTP."""

from __future__ import annotations

import json
import os
import re
import shutil

# terraform output only, with a fixed command line.
import subprocess  # nosec B404
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from rich.console import Console

from carrier_core.errors import CarrierError
from carrier_core.logs import mask_phone
from carrier_core.phone import BSUID
from carrier_core.settings import LOCAL_API_KEY_SECRET, LOCAL_API_KEY_SID, Settings
from omni_cli import stackrecord

LOCAL = "local"
# The local stack's layout (devstack.stack.Layout): consecutive ports from its base.
LOCAL_OFFSETS = {"dynamodb": 0, "inbound": 1, "status": 2, "outbound": 3, "sandbox": 4, "aws": 5}
TWILIO_API = "https://api.twilio.com"
# (connect, read) seconds. Sending waits on Twilio behind the API, so it gets a longer read.
HTTP_TIMEOUT = (3.0, 15.0)
# A probe (doctor) asks a question any healthy stage answers at once.
PROBE_TIMEOUT = (2.0, 5.0)
# botocore's defaults (60 s to connect, 60 s to read, retried) kept `events tail` and
# `doctor` waiting for minutes on a stack that accepts connections and never answers. An
# operator reruns a command; a hidden retry only doubles the wait for the one-line answer.
AWS_TIMEOUTS = {"connect_timeout": 2, "read_timeout": 5, "retries": {"mode": "standard", "total_max_attempts": 1}}
# A phone number inside free text (an error from Twilio may quote one).
E164 = re.compile(r"\+\d{7,15}")
# A number without its plus: a WhatsApp ID (`wa_id`) is the customer's number in digits.
BARE_NUMBER = re.compile(r"\d{7,15}")
# Fields that hold a phone number, the customer's or the business sender's (an opt-out's or
# an event's `sender`), masked unless --show-numbers. A Messaging Service SID is kept.
# A WhatsApp business-scoped user ID (`US.1349…`, also behind `whatsapp:`) names a customer as
# a number does, and is masked the same way; `external_user_id` holds one.
NUMBER_FIELDS = frozenset({"from", "to", "phone", "sender", "from_number", "to_number", "wa_id", "external_user_id"})


class CliFailure(Exception):
    """A failure the command explains in one line; the exit status is 1."""


class Unreachable(CliFailure):
    """An HTTP service that refused the connection: `line` names it, and locally the part of
    the stack it is."""

    def __init__(self, url: str, what: str) -> None:
        self.url = url.split("?")[0]
        self.what = what
        super().__init__(f"cannot reach the {what} at {self.url}: is it running?")

    def line(self, profile: Profile | None) -> str:
        parts = urlsplit(self.url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if profile is not None and profile.is_local:
            return (
                down(origin, profile)
                if part_of(origin, profile)
                else f"cannot reach the {self.what} at {self.url}: is the stack running (make dev)?"
            )
        stage = profile.stage if profile is not None else "the"
        return f"cannot reach the {self.what} at {self.url}: is the {stage} stage deployed, and is its URL right?"


def failure_line(exc: CliFailure, profile: Profile | None) -> str:
    """The one line a failure prints."""
    return exc.line(profile) if isinstance(exc, Unreachable) else str(exc)


@dataclass
class Profile:
    """One invocation's stage, its service URLs and how numbers are shown."""

    stage: str = LOCAL
    inbound_url: str | None = None
    status_url: str | None = None
    outbound_url: str | None = None
    show_numbers: bool = False
    # The local stack's first port; None: found as `stackrecord.port_base` finds it.
    port_base: int | None = None
    # soft_wrap: a line stays one line, whatever the terminal, for grep and scripts.
    console: Console = field(default_factory=lambda: Console(soft_wrap=True))
    _settings: Settings | None = None

    @property
    def is_local(self) -> bool:
        return self.stage == LOCAL

    def local_url(self, part: str) -> str:
        if self.port_base is None:
            try:
                self.port_base = stackrecord.port_base()
            except stackrecord.BadPortBase as exc:
                raise CliFailure(str(exc)) from exc
        base = self.port_base
        return f"http://127.0.0.1:{base + LOCAL_OFFSETS[part]}"

    def url(self, service: str) -> str:
        """The base URL of `service` (inbound, status, outbound): a flag, the local stack's, else
        the stage's Terraform output `base_url`."""
        given = {"inbound": self.inbound_url, "status": self.status_url, "outbound": self.outbound_url}[service]
        if given:
            return given.rstrip("/")
        if self.is_local:
            return self.local_url(service)
        return terraform_output(self.stage, service, "base_url").rstrip("/")

    def webhook_url(self, service: str) -> str:
        """The public URL Twilio signs for: the webhook route of `service`."""
        return self.url(service) + f"/twilio/{service}"

    def environ(self) -> dict[str, str]:
        """The environment the stage's settings are read from; locally, the stack's addresses."""
        env = dict(os.environ)
        env["STAGE"] = self.stage
        if self.is_local:
            env.setdefault("DYNAMODB_ENDPOINT", self.local_url("dynamodb"))
            env.setdefault("TWILIO_API_BASE_URL", self.local_url("sandbox"))
            env.setdefault("TWILIO_CONTENT_API_BASE_URL", self.local_url("sandbox"))
            # The local stack gets fake credentials, never the caller's real ones (as devstack does).
            env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
            env.pop("AWS_SESSION_TOKEN", None)
            env.pop("AWS_PROFILE", None)
            env.setdefault("AWS_ENDPOINT_URL_SQS", self.local_url("aws"))
            env.setdefault("AWS_ENDPOINT_URL_EVENTBRIDGE", self.local_url("aws"))
            env.setdefault("AWS_ENDPOINT_URL_SSM", self.local_url("aws"))
            env.setdefault("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", self.local_url("dynamodb"))
            # What the media re-host reads when `events replay-dlq` runs it in this process.
            env.setdefault("AWS_ENDPOINT_URL_S3", self.local_url("aws"))
            env.setdefault("INBOUND_WEBHOOK_URL", self.local_url("inbound") + "/twilio/inbound")
            if not env.get("TWILIO_STATUS_CALLBACK_URL"):  # its older name, which settings still read
                env.setdefault("STATUS_WEBHOOK_URL", self.local_url("status") + "/twilio/status")
            if not env.get("TWILIO_API_KEY_SID"):
                env.update(TWILIO_API_KEY_SID=LOCAL_API_KEY_SID, TWILIO_API_KEY_SECRET=LOCAL_API_KEY_SECRET)
        return env

    @property
    def settings(self) -> Settings:
        """The stage's settings, read as the services read them (tokens from SSM when named)."""
        if self._settings is None:
            try:
                self._settings = Settings.from_env("cli", self.environ())
            except CarrierError as exc:
                raise CliFailure(f"settings: {exc}") from exc
        return self._settings

    def bind(self) -> None:
        """Point the PynamoDB models at the stage's tables, with the local stack's fake keys."""
        from carrier_core.models import bind_models

        self.use_aws()
        bind_models(self.settings)

    def use_aws(self) -> None:
        """Locally, this process's AWS clients get the stack's endpoints and fake credentials."""
        if self.is_local:
            env = self.environ()
            for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
                os.environ.pop(name, None)
            os.environ.update({name: value for name, value in env.items() if name.startswith("AWS_")})

    def aws_client(self, service: str) -> Any:
        """A boto3 client for the stage, with short timeouts; its own session, so threads may
        build clients side by side (boto3's default session is not safe for that)."""
        import boto3  # deferred: only the commands that read queues need it
        from botocore.config import Config

        self.use_aws()
        return boto3.session.Session().client(service, region_name=self.settings.region, config=Config(**AWS_TIMEOUTS))

    def number(self, value: str | None) -> str:
        """A phone number as printed: masked to its last four digits unless --show-numbers."""
        if value is None:
            return ""
        # Only numbers: a Messaging Service SID or an alphanumeric sender is shown as it is.
        if self.show_numbers or not (E164.search(value) or BARE_NUMBER.fullmatch(value) or BSUID.fullmatch(value.rpartition(":")[2])):
            return value
        return str(mask_phone(value))

    def masked(self, data: Any) -> Any:
        """`data` (a JSON value) with every number field masked unless --show-numbers."""
        if self.show_numbers:
            return data
        if isinstance(data, dict):
            return {k: (self.number(v) if k in NUMBER_FIELDS and isinstance(v, str) else self.masked(v)) for k, v in data.items()}
        if isinstance(data, list):
            return [self.masked(v) for v in data]
        return data

    def print_json(self, data: Any) -> None:
        # print(), not Rich: scripts read this, and Rich would wrap long lines.
        print(json.dumps(self.masked(data), indent=2, default=str))


def terraform_output(stage: str, service: str, name: str) -> str:
    """One output of infra/roots/<service> for a stage, read with `terraform output` from its
    state: through the stage's data directory (.terraform-<stage>), which `make deploy-*` inits."""
    root = next((d for d in (Path.cwd() / "infra", Path(__file__).resolve().parents[3] / "infra") if d.is_dir()), None)
    unknown = f"the {stage} stage's {service} URL is unknown: pass --{service}-url"
    if root is None or shutil.which("terraform") is None:
        raise CliFailure(f"{unknown} (or run from the repository, with terraform installed)")
    try:
        # A fixed command line: terraform from PATH, a directory of this repository.
        result = subprocess.run(  # nosec B603
            ["terraform", f"-chdir={root / 'roots' / service}", "output", "-raw", name],
            env={**os.environ, "TF_DATA_DIR": f".terraform-{stage}"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CliFailure(f"{unknown}: terraform output failed ({type(exc).__name__})") from exc
    if result.returncode != 0 or not result.stdout.strip():
        raise CliFailure(
            f"{unknown}, or `terraform init` in infra/roots/{service} for {stage} to read its output {name} "
            f"(TF_DATA_DIR=.terraform-{stage} terraform -chdir=infra/roots/{service} init -backend-config=backend/{stage}.hcl)"
        )
    return result.stdout.strip()


def mask_numbers(text: str) -> str:
    """`text` with every E.164 number in it masked to its last four digits."""
    return E164.sub(lambda m: str(mask_phone(m.group(0))), text)


def http(method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
    """One HTTP request; an unreachable service is a one-line failure naming it."""
    try:
        return requests.request(method, url, timeout=kwargs.pop("timeout", HTTP_TIMEOUT), **kwargs)
    except requests.ConnectionError as exc:
        raise Unreachable(url, what) from exc
    except requests.Timeout as exc:
        raise CliFailure(f"the {what} at {url.split('?')[0]} did not answer in time") from exc


# What each part of the local stack is called in a one-line failure.
PART_NAMES = {
    "dynamodb": "DynamoDB (DynamoDB Local)",
    "inbound": "inbound service",
    "status": "status service",
    "outbound": "outbound API",
    "sandbox": "Twilio sandbox",
    "aws": "EventBridge/SQS/S3 server (moto)",
}


def unreachable(exc: BaseException, profile: Profile | None) -> str | None:
    """The one line for an AWS or DynamoDB call that found nothing listening: the part that is
    down and its address; None when `exc` is not that."""
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

    from carrier_core.errors import StorageUnavailable

    seen: BaseException | None = exc
    storage = False
    while seen is not None:
        if isinstance(seen, (EndpointConnectionError, ConnectionClosedError)):
            return down(str(seen.kwargs.get("endpoint_url", "")), profile)
        storage = storage or isinstance(seen, StorageUnavailable)
        seen = seen.__cause__ or seen.__context__
    if storage and profile is not None and profile.is_local:
        return down(profile.local_url("dynamodb"), profile)
    return None


def part_of(url: str, profile: Profile) -> str | None:
    """Which part of the local stack listens at `url` (an origin), if one does."""
    base = url.rstrip("/")
    return next((name for name in LOCAL_OFFSETS if profile.local_url(name) == base), None)


def down(url: str, profile: Profile | None) -> str:
    base = url.rstrip("/")
    if profile is not None and profile.is_local:
        part = part_of(base, profile)
        if part is not None:
            return f"cannot reach the local stack's {PART_NAMES[part]} at {base}: is the stack running (make dev)?"
    return f"cannot reach {base or 'the AWS endpoint'}: is it up, and are the endpoint and credentials right?"


def timed_out(exc: BaseException) -> bool:
    """Whether `exc`, or an error it was raised from, is a connect or read timeout."""
    from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (ConnectTimeoutError, ReadTimeoutError, requests.Timeout)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def error_line(response: requests.Response) -> str:
    """The reason an API call failed, from the carrier's `{"error": ...}` body when it has one."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    if isinstance(error, dict) and error.get("code"):
        return f"{response.status_code} {error['code']}: {error.get('message', '')}".strip()
    return f"HTTP {response.status_code}"
