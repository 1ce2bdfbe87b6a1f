from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack import aws
from tests.support.handoff import PublishedEvents
from tests.support.stack import RunningStack, run_stack


# The shared stack's audit of what its bus published, once the stack is up.
AUDITS: list[PublishedEvents] = []


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The local stack, shared by the session; once every test is done, each event its bus
    carried during the run must fit the published schema (a failure here fails the run)."""
    for running in run_stack(tmp_path_factory.mktemp("stack")):
        published = PublishedEvents(running.aws_client("sqs"), running.aws_client("events"), aws.BUS)
        AUDITS.append(published)
        yield running
        invalid = published.invalid()
        AUDITS.remove(published)
        assert not invalid, f"{len(invalid)} of {published.seen} published events fail the schema: {invalid[:10]}"


@pytest.fixture(scope="module", autouse=True)
def read_published_events() -> Iterator[None]:
    """After each module, the events published so far are checked (PublishedEvents says why);
    what fails is reported with the rest at the end of the run."""
    yield
    for published in AUDITS:
        published.read()
