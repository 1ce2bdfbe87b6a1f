from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack import aws
from tests.support.handoff import PublishedEvents
from tests.support.stack import RunningStack, run_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The local stack, shared by the session; once every test is done, each event its bus
    carried during the run must fit the published schema (a failure here fails the run)."""
    for running in run_stack(tmp_path_factory.mktemp("stack")):
        published = PublishedEvents(running.aws_client("sqs"), running.aws_client("events"), aws.BUS)
        yield running
        invalid = published.invalid()
        assert not invalid, f"{len(invalid)} of {published.seen} published events fail the schema: {invalid[:10]}"
