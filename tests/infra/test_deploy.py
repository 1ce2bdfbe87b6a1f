"""`make deploy-<svc>` stops early and clearly without terraform or credentials, and
otherwise drives terraform on that service's root alone."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from tests.infra.hcl import ROOT

FAKE_TERRAFORM = """#!/bin/sh
echo "TF_DATA_DIR=$TF_DATA_DIR $@" >> "{log}"
"""


def no_credentials_env(path: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        PATH=path,
        AWS_CONFIG_FILE="/nonexistent/config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION="us-east-1",
        MAKEFLAGS="",
    )
    return env


def path_without_terraform() -> str:
    dirs = os.environ["PATH"].split(os.pathsep)
    return os.pathsep.join(d for d in dirs if not (Path(d) / "terraform").exists())


def fake_terraform(tmp_path: Path) -> tuple[str, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "terraform.log"
    script = bin_dir / "terraform"
    script.write_text(FAKE_TERRAFORM.format(log=log))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return os.pathsep.join([str(bin_dir), path_without_terraform()]), log


def make(target: str, env: dict[str, str], stage: str = "dev") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", target, f"STAGE={stage}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_stops_without_terraform() -> None:
    result = make("deploy-inbound", no_credentials_env(path_without_terraform()))
    assert result.returncode != 0
    assert "terraform is not on PATH" in result.stderr
    assert "package.py" not in result.stdout


def test_stops_without_credentials_before_terraform_runs(tmp_path: Path) -> None:
    path, log = fake_terraform(tmp_path)
    result = make("deploy-status", no_credentials_env(path))
    assert result.returncode != 0
    assert "no usable AWS credentials" in result.stderr
    assert not log.exists(), "terraform ran without credentials"
    assert "package.py" not in result.stdout


def test_stops_on_unknown_stage(tmp_path: Path) -> None:
    path, log = fake_terraform(tmp_path)
    result = make("deploy-outbound", no_credentials_env(path), stage="qa")
    assert result.returncode != 0
    assert "no stage 'qa'" in result.stderr and "dev|prod" in result.stderr
    assert not log.exists()


@pytest.fixture()
def sts() -> Iterator[str]:
    """A moto server answering sts:GetCallerIdentity, so the credentials check passes."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_deploy_runs_terraform_on_that_root_only(tmp_path: Path, sts: str) -> None:
    path, log = fake_terraform(tmp_path)
    env = no_credentials_env(path)
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL_STS=sts, ALLOW_DIRTY="1")
    result = make("deploy-inbound", env)
    assert result.returncode == 0, result.stderr
    assert "build/inbound.zip:" in result.stdout  # packaged first, size printed
    calls = log.read_text().splitlines()
    assert len(calls) == 3
    # One root for every stage: the stage picks the backend file, the values and the data
    # directory (.terraform-dev), so a prod init never repoints dev's state.
    root = "TF_DATA_DIR=.terraform-dev -chdir=infra/roots/inbound"
    assert calls[0] == f"{root} init -input=false -reconfigure -backend-config=backend/dev.hcl"
    described = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    plan = (
        f"{root} plan -input=false -var-file=stages/dev.tfvars -var zip_path={ROOT}/build/inbound.zip -var code_version={described} -out="
    )
    assert calls[1].startswith(plan)
    assert calls[2] == f"{root} apply -input=false {ROOT}/build/dev-inbound.tfplan"


def test_deploy_shared_uses_the_stage_files_of_the_shared_root(tmp_path: Path, sts: str) -> None:
    path, log = fake_terraform(tmp_path)
    env = no_credentials_env(path)
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL_STS=sts)
    result = make("deploy-shared", env, stage="prod")
    assert result.returncode == 0, result.stderr
    root = "TF_DATA_DIR=.terraform-prod -chdir=infra/roots/shared"
    assert log.read_text().splitlines() == [
        f"{root} init -input=false -reconfigure -backend-config=backend/prod.hcl",
        f"{root} plan -input=false -var-file=stages/prod.tfvars -out={ROOT}/build/prod-shared.tfplan",
        f"{root} apply -input=false {ROOT}/build/prod-shared.tfplan",
    ]


def test_refuses_a_dirty_tree_unless_allowed(tmp_path: Path, sts: str) -> None:
    """A checkout with a change in no commit (here a scratch repository git is pointed at)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "changed.txt").write_text("not committed\n")
    path, log = fake_terraform(tmp_path)
    env = no_credentials_env(path)
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL_STS=sts)
    env.update(GIT_DIR=str(repo / ".git"), GIT_WORK_TREE=str(repo))
    result = make("deploy-status", env)
    assert result.returncode != 0
    assert "changes in no commit" in result.stderr and "ALLOW_DIRTY=1" in result.stderr
    assert not log.exists(), "terraform ran on a dirty tree"
    assert "package.py" not in result.stdout
