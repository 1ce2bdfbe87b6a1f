"""Which local stack `omni-twilio` talks to: --port-base, --stack, DEVSTACK_PORT_BASE, the
stack's record under .dev/, then 8000; and a malformed port base is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omni_cli import stackrecord
from omni_cli.main import app, local_port_base
from omni_cli.context import CliFailure


@pytest.fixture(autouse=True)
def no_stack_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DEVSTACK_PORT_BASE", raising=False)
    monkeypatch.delenv("DEVSTACK_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)


def recorded(directory: Path, base: int, pid: int | None = None) -> Path:
    data = directory / ".dev"
    path = stackrecord.write(data, base, {"dynamodb": f"http://127.0.0.1:{base}"})
    if pid is not None:
        path.write_text(json.dumps({**json.loads(path.read_text()), "pid": pid}))
    return data


def dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_the_record_is_found_from_a_directory_below_the_repository(tmp_path: Path) -> None:
    recorded(tmp_path, 26000)
    below = tmp_path / "services" / "inbound"
    below.mkdir(parents=True)
    os.chdir(below)
    assert local_port_base(None, None) == 26000


def test_precedence_option_then_env_then_record_then_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert local_port_base(None, None) == 8000
    data = recorded(tmp_path, 26000)
    assert local_port_base(None, None) == 26000
    monkeypatch.setenv("DEVSTACK_PORT_BASE", "25000")
    assert local_port_base(None, None) == 25000
    assert local_port_base("24000", None) == 24000
    other = recorded(tmp_path / "other", 23000)
    assert local_port_base(None, other) == 23000
    assert local_port_base(None, data / "stack.json") == 26000


def test_a_record_whose_stack_is_gone_is_ignored(tmp_path: Path) -> None:
    data = recorded(tmp_path, 26000, pid=dead_pid())
    assert local_port_base(None, None) == 8000
    with pytest.raises(CliFailure, match="no running stack is recorded there"):
        local_port_base(None, data)


def test_the_record_is_removed_only_by_its_own_stack(tmp_path: Path) -> None:
    data = recorded(tmp_path, 26000, pid=1)
    stackrecord.remove(data)
    assert (data / "stack.json").exists()
    data = recorded(tmp_path, 26000)
    stackrecord.remove(data)
    assert not (data / "stack.json").exists()


@pytest.mark.parametrize("value", ["abc", "", "8000x", "-1", "0", "70000", " 1e3"])
def test_a_malformed_port_base_is_one_line(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("DEVSTACK_PORT_BASE", value)
    result = CliRunner().invoke(app, ["show", "SM" + "0" * 32])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        result.output.strip()
        == f"Error: DEVSTACK_PORT_BASE must be a port number from 1 to 65529 (the first of 7 consecutive ports), not {value!r}"
    )
    monkeypatch.delenv("DEVSTACK_PORT_BASE")
    result = CliRunner().invoke(app, ["--port-base", value or "x", "show", "SM" + "0" * 32])
    assert result.exit_code == 1 and result.output.strip().startswith("Error: --port-base must be a port number")


def test_make_dev_refuses_a_malformed_port_base_in_one_line() -> None:
    env = {**os.environ, "DEVSTACK_PORT_BASE": "80OO"}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "devstack"], cwd=root, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert (
        done.stderr.strip()
        == "make dev: DEVSTACK_PORT_BASE must be a port number from 1 to 65529 (the first of 7 consecutive ports), not '80OO'"
    )


def test_the_webhook_sender_and_the_local_replay_follow_the_stack_as_the_cli_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m devstack.send` and `make replay-dlq STAGE=local` after `DEVSTACK_PORT_BASE=26000 make dev`."""
    from devstack.replay import running_layout
    from devstack.send import webhook_url

    assert webhook_url("inbound") == "http://127.0.0.1:8001/twilio/inbound"
    recorded(tmp_path, 26000)
    assert webhook_url("inbound") == "http://127.0.0.1:26001/twilio/inbound"
    assert webhook_url("status") == "http://127.0.0.1:26002/twilio/status"
    assert running_layout().url("aws") == "http://127.0.0.1:26005"
    monkeypatch.setenv("DEVSTACK_PORT_BASE", "25000")
    assert webhook_url("status") == "http://127.0.0.1:25002/twilio/status"
