from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from devstack import aws
from tests.support.handoff import PublishedEvents
from tests.support.stack import RunningStack, run_stack


# The shared stack, once it is up, with its audit of what the bus published.
SHARED: list[tuple[RunningStack, PublishedEvents]] = []
# The consumers' queues: every event lands in each, and a module reads what it needs of them.
CONSUMER_QUEUES = (aws.EVENTS_QUEUE, aws.CLI_QUEUE, aws.INSPECTOR_QUEUE)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The local stack, shared by the session; once every test is done, each event its bus
    carried during the run must fit the published schema (a failure here fails the run)."""
    for running in run_stack(tmp_path_factory.mktemp("stack")):
        published = PublishedEvents(running.aws_client("sqs"), running.aws_client("events"), aws.BUS)
        SHARED.append((running, published))
        yield running
        invalid = published.invalid()
        SHARED.clear()
        assert not invalid, f"{len(invalid)} of {published.seen} published events fail the schema: {invalid[:10]}"


@pytest.fixture(scope="module", autouse=True)
def between_modules() -> Iterator[None]:
    """After each module, the events published so far are checked (PublishedEvents says why;
    what fails is reported with the rest at the end of the run), and what the module left
    unread on the consumers' queues is emptied: no later module reads an earlier one's events,
    and moto's receive slows with a queue's length (the inspector's page, reading its queue
    500 events a refresh, took over a minute to catch up after the inbound tests' thousands)."""
    yield
    for running, published in SHARED:
        published.read()
        sqs = running.aws_client("sqs")
        for name in CONSUMER_QUEUES:
            try:
                sqs.purge_queue(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"])
            except ClientError as exc:
                # One purge a queue a minute, as on SQS: a short module's leftovers wait for
                # the next module's end.
                if not exc.response["Error"]["Code"].endswith("PurgeQueueInProgress"):
                    raise
