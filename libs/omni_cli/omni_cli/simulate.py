"""`simulate`: signed Twilio webhooks, as Twilio would post them to a stage."""

from __future__ import annotations

import mimetypes
import statistics
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import requests
import typer
from rich.progress import Progress

from carrier_core.errors import CarrierError
from carrier_core.phone import parse_address
from carrier_core.settings import DEFAULT_TENANT
from carrier_core.signature import compute_signature
from carrier_core.status.machine import parse_status
from omni_cli import ids
from omni_cli.context import CliFailure, Profile, Unreachable, http

app = typer.Typer(help="Post signed Twilio webhooks (inbound messages, status callbacks).", no_args_is_help=True, rich_markup_mode=None)

FormPairs = list[tuple[str, str]]
# A post of a burst that found nothing listening.
UNREACHABLE = "unreachable"


def new_sid(media: list[str]) -> str:
    return ("MM" if media else "SM") + uuid.uuid4().hex


def inbound_form(account_sid: str, sender: str, to: str, body: str, media: list[tuple[str, str]], sid: str | None = None) -> FormPairs:
    """A real-shaped inbound message form, as Twilio posts it, with a fresh MessageSid;
    `media` is each item's URL and content type."""
    sid = sid or new_sid([url for url, _ in media])
    pairs = [
        ("MessageSid", sid),
        ("SmsMessageSid", sid),
        ("AccountSid", account_sid),
        ("From", sender),
        ("To", to),
        ("Body", body),
        ("NumMedia", str(len(media))),
        ("ApiVersion", "2010-04-01"),
    ]
    for n, (url, content_type) in enumerate(media):
        pairs += [(f"MediaUrl{n}", url), (f"MediaContentType{n}", content_type)]
    if sender.startswith("whatsapp:"):
        pairs += [("WaId", sender.removeprefix("whatsapp:+")), ("ProfileName", "omni-twilio simulate")]
    return pairs


def post_signed(
    url: str, pairs: FormPairs, token: str, session: requests.Session | None = None, what: str = "webhook"
) -> requests.Response:
    """POST `pairs` to `url` with the X-Twilio-Signature Twilio would compute for them."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": compute_signature(token, url, pairs)}
    if session is not None:
        return session.post(url, data=urlencode(pairs), headers=headers, timeout=30)
    return http("POST", url, what, data=urlencode(pairs), headers=headers)


def media_urls(profile: Profile, media: list[str], sid: str) -> list[tuple[str, str]]:
    """Each --media as Twilio would give it, with its content type: a URL as it is (its type
    guessed from its name), a file hosted by the local sandbox (its type from the file's)."""
    return [
        (item, _guess_type(item.split("?")[0], "image/jpeg"))
        if item.startswith(("http://", "https://"))
        else host_file(profile, Path(item), sid)
        for item in media
    ]


def _guess_type(name: str, default: str) -> str:
    return mimetypes.guess_type(name)[0] or default


def host_file(profile: Profile, path: Path, sid: str) -> tuple[str, str]:
    """Host a file through the sandbox's POST /_sandbox/media, under message `sid`, as Twilio
    hosts media; its URL (which names no type) and the file's content type."""
    if not path.is_file():
        raise CliFailure(f"--media {path}: neither an http(s) URL nor a file")
    if not profile.is_local:
        raise CliFailure(f"--media {path}: files are hosted by the local sandbox only; give an http(s) URL")
    content_type = _guess_type(path.name, "application/octet-stream")
    response = http(
        "POST",
        profile.local_url("sandbox") + "/_sandbox/media",
        "Twilio sandbox",
        params={"message_sid": sid},
        data=path.read_bytes(),
        headers={"Content-Type": content_type},
    )
    if response.status_code == 404:
        raise CliFailure(f"--media {path}: this sandbox cannot host files (no POST /_sandbox/media); give an http(s) URL")
    if response.status_code != 201:
        raise CliFailure(f"--media {path}: the sandbox answered {response.status_code}")
    return str(response.json()["url"]), content_type


@app.command()
def inbound(
    ctx: typer.Context,
    sender: str = typer.Option(..., "--from", help="The customer's number, E.164."),
    to: str = typer.Option("", "--to", help="The business number; default: the stage's default sender."),
    body: str = typer.Option("", "--body", help="The message text."),
    media: list[str] = typer.Option([], "--media", help="A media URL or a file the local sandbox hosts (repeatable): an MMS."),
    whatsapp: bool = typer.Option(False, "--whatsapp", help="Send over WhatsApp (whatsapp: addresses)."),
    count: int = typer.Option(1, "--count", min=1, help="How many messages to post."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="How many at once, with --count."),
) -> None:
    """Post a signed inbound message webhook (or --count of them)."""
    profile: Profile = ctx.obj
    settings = profile.settings
    to = to or settings.account.default_from_number or ""
    if not to:
        raise CliFailure("--to is required: the stage has no default sender")
    if whatsapp:
        sender, to = (n if n.startswith("whatsapp:") else f"whatsapp:{n}" for n in (sender, to))
    # Twilio only ever posts E.164 addresses: refuse what the inbound API would refuse.
    address(sender, "--from")
    address(to, "--to")
    url = profile.webhook_url("inbound")
    token = settings.account.auth_token
    if count == 1:
        sid = new_sid(media)
        pairs = inbound_form(settings.account.account_sid, sender, to, body, media_urls(profile, media, sid), sid)
        response = post_signed(url, pairs, token, what="inbound webhook")
        profile.console.print(f"{response.status_code} inbound {sid} from {profile.number(sender)} to {profile.number(to)}")
        if response.status_code != 200:
            raise CliFailure(f"the inbound webhook answered {response.status_code}: {response.text[:200]}")
        return
    forms = []
    for _ in range(count):
        sid = new_sid(media)
        forms.append(inbound_form(settings.account.account_sid, sender, to, body, media_urls(profile, media, sid), sid))
    run_many(profile, url, token, forms, concurrency)


def address(value: str, option: str) -> None:
    """Refuse `value` unless it is an address Twilio would post (`+E164`, `whatsapp:+E164`)."""
    try:
        parse_address(value, option)
    except CarrierError as exc:
        raise CliFailure(str(exc)) from exc


def run_many(profile: Profile, url: str, token: str, forms: list[FormPairs], concurrency: int) -> None:
    """Post every form, `concurrency` at a time, with a progress bar; then the status codes and latency."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=concurrency)
    session.mount("http://", adapter)
    session.mount("https://", adapter)

    def one(pairs: FormPairs) -> tuple[str, float]:
        started = time.perf_counter()
        try:
            code = str(post_signed(url, pairs, token, session).status_code)
        except requests.ConnectionError:
            code = UNREACHABLE
        except requests.RequestException as exc:
            code = type(exc).__name__
        return code, time.perf_counter() - started

    codes: Counter[str] = Counter()
    latencies: list[float] = []
    with Progress(console=profile.console, transient=True) as progress, ThreadPoolExecutor(concurrency) as pool:
        task = progress.add_task("posting inbound webhooks", total=len(forms))
        for code, latency in pool.map(one, forms):
            codes[code] += 1
            latencies.append(latency)
            progress.advance(task)
    if set(codes) == {UNREACHABLE}:  # nothing listens: one line naming it, not a summary of refusals
        raise Unreachable(url, "inbound webhook")
    summary = ", ".join(f"{code}: {n}" for code, n in sorted(codes.items()))
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    profile.console.print(f"posted {len(forms)}  status codes {summary}  latency p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")
    if set(codes) != {"200"}:
        raise CliFailure(f"{len(forms) - codes['200']} of {len(forms)} webhooks were not accepted ({summary})")


def percentile(values: list[float], pct: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


@app.command()
def status(
    ctx: typer.Context,
    sid: str = typer.Argument(..., help="The MessageSid the callback is about, or the start of one of the default tenant's."),
    message_status: str = typer.Argument(..., metavar="STATUS", help="queued, sent, delivered, undelivered, failed, read, ..."),
    error_code: int | None = typer.Option(None, "--error-code", help="Twilio's ErrorCode (with undelivered or failed)."),
    raw: bool = typer.Option(False, "--raw", help="Send STATUS as it is, even one Twilio never sends (to test the service's tolerance)."),
) -> None:
    """Post a signed status callback for a message."""
    profile: Profile = ctx.obj
    if not raw:
        try:
            parse_status(message_status)
        except CarrierError as exc:
            raise CliFailure(f"{exc} (--raw sends it anyway)") from exc
    # The callback goes to the tenant-less route: a prefix is the default tenant's message.
    sid = ids.resolve(profile, sid, DEFAULT_TENANT, "message", ("SM", "MM"))
    settings = profile.settings
    pairs = [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("MessageStatus", message_status),
        ("SmsStatus", message_status),
        ("AccountSid", settings.account.account_sid),
        ("ApiVersion", "2010-04-01"),
    ]
    if error_code is not None:
        pairs.append(("ErrorCode", str(error_code)))
    response = post_signed(profile.webhook_url("status"), pairs, settings.account.auth_token, what="status webhook")
    profile.console.print(f"{response.status_code} status {message_status} for {sid}")
    if response.status_code not in (200, 204):
        raise CliFailure(f"the status webhook answered {response.status_code}: {response.text[:200]}")
