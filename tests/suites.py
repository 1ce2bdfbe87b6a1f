"""Which test files make each team's suite: `make test-<service>` and `make test-core`.

    python -m tests.suites inbound      # prints the suite's paths, one a line

A file may be in several suites: one that drives two services (the fuzz, the log scan,
tenants) runs for each team that owns one of them. `core` is carrier_core and what every
service stands on: the CLI, the local stack, the sandbox's shared parts, the Terraform and
the repository's own checks. tests/unit/test_suites.py fails when a test file is in none.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("inbound", "status", "outbound")

# Every service's suite runs the cross-service end-to-end tests and its compatibility test.
_SHARED_E2E = [
    "tests/e2e/test_gateway_answers.py",
    "tests/e2e/test_log_scan.py",
    "tests/e2e/test_tenants.py",
    "tests/e2e/test_reconcile.py",
    "tests/e2e/test_fuzz.py",
]
_SHARED_UNIT = [
    "tests/unit/test_carrier_core_api.py",
    "tests/unit/test_connection_overrides.py",
    "tests/unit/test_storage_faults.py",
    "tests/unit/test_tenants.py",
    "tests/unit/test_version.py",
]

SUITES: dict[str, list[str]] = {
    "inbound": [
        "tests/unit/test_inbound_app.py",
        "tests/unit/test_media_rehost.py",
        "tests/unit/test_webhook_signing.py",
        "tests/unit/test_signature.py",
        "tests/unit/test_sandbox_inbound.py",
        "tests/unit/test_writes.py",
        "tests/unit/test_whatsapp_window.py",
        *_SHARED_UNIT,
        "tests/contract/test_numbers_requests.py",
        "tests/e2e/test_inbound.py",
        "tests/e2e/test_media.py",
        "tests/e2e/test_numbers.py",
        *_SHARED_E2E,
    ],
    "status": [
        "tests/unit/test_status_app.py",
        "tests/unit/test_status_history.py",
        "tests/unit/test_status_machine.py",
        "tests/unit/test_status_store.py",
        "tests/unit/test_status_requeue.py",
        "tests/unit/test_handoff.py",
        "tests/unit/test_poller.py",
        "tests/unit/test_devstack_wiring.py",
        "tests/unit/test_sandbox_callbacks.py",
        "tests/unit/test_writes.py",
        *_SHARED_UNIT,
        "tests/e2e/test_status.py",
        "tests/e2e/test_status_property.py",
        "tests/e2e/test_whatsapp_templates.py",
        "tests/e2e/test_handoff.py",
        *_SHARED_E2E,
    ],
    "outbound": [
        "tests/unit/test_outbound_adoption.py",
        "tests/unit/test_outbound_inputs.py",
        "tests/unit/test_outbound_media.py",
        "tests/unit/test_outbound_media_bomb.py",
        "tests/unit/test_outbound_media_hostile.py",
        "tests/unit/test_outbound_retry.py",
        "tests/unit/test_outbound_safety.py",
        "tests/unit/test_outbound_segments.py",
        "tests/unit/test_outbound_send.py",
        "tests/unit/test_send_path.py",
        "tests/unit/test_outbound_twilio.py",
        "tests/unit/test_outbound_validation.py",
        "tests/unit/test_openapi.py",
        "tests/unit/test_reconcile.py",
        "tests/unit/test_sandbox.py",
        "tests/unit/test_sandbox_accounts.py",
        "tests/unit/test_sandbox_content.py",
        "tests/unit/test_sandbox_listing.py",
        "tests/unit/test_sandbox_media.py",
        "tests/unit/test_sandbox_sdk.py",
        "tests/unit/test_whatsapp_window.py",
        "tests/unit/test_whatsapp_templates.py",
        *_SHARED_UNIT,
        "tests/contract/test_outbound_requests.py",
        "tests/contract/test_content_requests.py",
        "tests/contract/test_twilio_messages.py",
        "tests/contract/test_sandbox_contract.py",
        "tests/e2e/test_outbound.py",
        "tests/e2e/test_outbound_safety.py",
        "tests/e2e/test_outbound_sandbox.py",
        "tests/e2e/test_scheduling.py",
        "tests/e2e/test_redaction.py",
        "tests/e2e/test_erasure.py",
        "tests/e2e/test_whatsapp_templates.py",
        "tests/e2e/test_sandbox.py",
        *_SHARED_E2E,
    ],
    "core": [
        "tests/unit/test_core.py",
        "tests/unit/test_signature.py",
        "tests/unit/test_writes.py",
        "tests/unit/test_storage_faults.py",
        "tests/unit/test_dynamodb_proxy.py",
        "tests/unit/test_aws_state.py",
        "tests/unit/test_devstack_watch.py",
        "tests/unit/test_inspector_events.py",
        "tests/unit/test_cli_follow.py",
        "tests/unit/test_cli_inputs.py",
        "tests/unit/test_cli_masking.py",
        "tests/unit/test_cli_numbers.py",
        "tests/unit/test_cli_templates.py",
        "tests/unit/test_cli_stack.py",
        "tests/unit/test_cli_tables.py",
        "tests/unit/test_whatsapp_window.py",
        "tests/unit/test_sandbox_numbers.py",
        "tests/unit/test_dependencies.py",
        "tests/unit/test_code_style.py",
        "tests/unit/test_self_contained.py",
        "tests/unit/test_architecture_doc.py",
        "tests/unit/test_service_readmes.py",
        "tests/unit/test_suites.py",
        "tests/unit/test_affected.py",
        "tests/unit/test_codeowners.py",
        "tests/unit/test_version.py",
        "tests/unit/test_carrier_core_api.py",
        "tests/contract/test_numbers_requests.py",
        "tests/e2e/test_devstack.py",
        "tests/e2e/test_cli.py",
        "tests/e2e/test_inspector.py",
        "tests/infra",
    ],
}


def all_test_files() -> list[str]:
    """Every test module under tests/, as a path from the repository's root."""
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py"))


def covers(entry: str, path: str) -> bool:
    """An entry names a file, or a directory and so every file under it."""
    return path == entry or path.startswith(entry.rstrip("/") + "/")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in SUITES:
        print(f"usage: python -m tests.suites {'|'.join(SUITES)}", file=sys.stderr)
        return 2
    print("\n".join(SUITES[argv[0]]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
