"""devstack/awsstate.py: moto's S3 objects and SQS messages written to a folder and read back
into a fresh moto, as a restart of `make dev`'s moto server does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack.awsstate import STATE_FILE, Keeper

BUCKET = "omni-twilio-local-media"


def clients() -> tuple[Any, Any]:
    return boto3.client("s3", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")


@pytest.fixture
def moto() -> Iterator[None]:
    with mock_aws():
        yield


def restart(folder: Path) -> list[str]:
    """A fresh moto (leaving mock_aws resets every backend) filled from `folder`; what it said."""
    said: list[str] = []
    Keeper(folder, said.append).load()
    return said


def test_objects_and_unread_messages_come_back_as_they_were(tmp_path: Path) -> None:
    with mock_aws():
        s3, sqs = clients()
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="ME1/0", Body=b"\x89PNG\r\n", ContentType="image/png", Metadata={"sha256": "abc"})
        s3.put_object(Bucket=BUCKET, Key="ME1/1", Body=b"gone")
        s3.delete_object(Bucket=BUCKET, Key="ME1/1")
        dlq = sqs.create_queue(QueueName="events-dlq", Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
        events = sqs.create_queue(QueueName="events")["QueueUrl"]
        sqs.send_message(QueueUrl=events, MessageBody="read and deleted")
        [received] = sqs.receive_message(QueueUrl=events)["Messages"]
        sqs.delete_message(QueueUrl=events, ReceiptHandle=received["ReceiptHandle"])
        unread = sqs.send_message(QueueUrl=events, MessageBody='{"detail-type": "message.received"}')["MessageId"]
        binary = {"raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}}
        sqs.send_message(QueueUrl=dlq, MessageBody="a stream record", MessageAttributes=binary)
        before = s3.head_object(Bucket=BUCKET, Key="ME1/0")
        assert Keeper(tmp_path).save()

    with mock_aws():
        s3, sqs = clients()
        assert s3.list_buckets()["Buckets"] == []  # moto really forgot
        said = restart(tmp_path)
        assert said == ["kept state read back: 1 object in 1 bucket, 2 messages in 2 queues"]
        got = s3.get_object(Bucket=BUCKET, Key="ME1/0")
        assert got["Body"].read() == b"\x89PNG\r\n"
        assert (got["ContentType"], got["Metadata"], got["ETag"]) == ("image/png", {"sha256": "abc"}, before["ETag"])
        assert got["LastModified"] == before["LastModified"]
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["ME1/0"]
        events = sqs.get_queue_url(QueueName="events")["QueueUrl"]
        [message] = sqs.receive_message(QueueUrl=events, MaxNumberOfMessages=10)["Messages"]
        assert (message["MessageId"], message["Body"]) == (unread, '{"detail-type": "message.received"}')
        dlq = sqs.get_queue_url(QueueName="events-dlq")["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["MessageRetentionPeriod"])["Attributes"]
        assert attributes == {"MessageRetentionPeriod": "1209600"}
        [kept] = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
        assert kept["Body"] == "a stream record" and kept["MessageAttributes"]["raw"]["BinaryValue"] == b"\x00\xff"
        # The stack's own setup runs again after a restart: creating what exists is a no-op.
        sqs.create_queue(QueueName="events-dlq", Attributes={"MessageRetentionPeriod": "1209600"})


def test_a_message_received_but_not_deleted_waits_out_its_visibility_timeout(tmp_path: Path) -> None:
    with mock_aws():
        s3, sqs = clients()
        url = sqs.create_queue(QueueName="events")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="in flight")
        assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=600)["Messages"]
        Keeper(tmp_path).save()
    with mock_aws():
        restart(tmp_path)
        s3, sqs = clients()
        url = sqs.get_queue_url(QueueName="events")["QueueUrl"]
        assert "Messages" not in sqs.receive_message(QueueUrl=url)
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_only_a_change_writes_and_files_of_deleted_objects_go(tmp_path: Path, moto: None) -> None:
    s3, sqs = clients()
    keeper = Keeper(tmp_path)
    assert keeper.save()  # the first state, empty
    assert not keeper.save()
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="a", Body=b"one")
    assert keeper.save()
    [first] = list((tmp_path / "objects").iterdir())
    s3.put_object(Bucket=BUCKET, Key="a", Body=b"two")  # a new version of the key: a new file
    assert keeper.save()
    [second] = list((tmp_path / "objects").iterdir())
    assert second.name != first.name and second.read_bytes() == b"two"
    s3.delete_object(Bucket=BUCKET, Key="a")
    assert keeper.save()
    assert list((tmp_path / "objects").iterdir()) == []
    assert not keeper.save()


@pytest.mark.parametrize("content", [b"", b"\0\0\0\0", b'{"version": 1, "buck', b"[]"])
def test_an_unreadable_state_file_starts_empty_and_says_so(tmp_path: Path, moto: None, content: bytes) -> None:
    (tmp_path / STATE_FILE).write_bytes(content)
    [said] = restart(tmp_path)
    assert "unreadable" in said
    s3, sqs = clients()
    assert s3.list_buckets()["Buckets"] == [] and sqs.list_queues().get("QueueUrls", []) == []


def test_nothing_kept_yet_is_a_first_start(tmp_path: Path, moto: None) -> None:
    assert restart(tmp_path / "missing") == []
