"""moto server's S3 buckets and SQS queues, kept in a folder across restarts of `make dev`.

moto server holds its state in memory. Given a folder (`python -m devstack.aws --data-dir
DIR`; `make dev` passes `.dev/aws`), the state of the two services that hold the stack's data
is written there and read back at the next start:

- S3: every bucket and its objects (the bytes, content type, user metadata, ETag and
  last-modified time). Each object's bytes are one file under `objects/`, written once.
- SQS: every queue, its attributes and tags, and its messages not yet deleted (id, body,
  attributes, sent time, receive count, when it is visible again). An unread event is still
  there after a restart; one received but not deleted becomes visible when its visibility
  timeout ends, as on SQS.

A thread compares what moto holds with what it last wrote, every second, and writes when
they differ: the new object files first, then `state.json` by an atomic rename, then the
object files nothing names any more are removed. SIGTERM writes once more, so only a part
killed outright (SIGKILL, a crash) loses what changed in its last second. EventBridge's bus
and rules are made again at every start (devstack.aws.create_event_resources); SSM
parameters are not kept.

SQS has no call that reads a queue's messages without receiving them, so this reads and
fills moto's own backends. moto is pinned in requirements-dev.lock, and
tests/unit/test_aws_state.py fails if an upgrade moves what is read here.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"
OBJECTS = "objects"
VERSION = 1
INTERVAL = 1.0
REGION = "us-east-1"
# The queue attributes a CreateQueue may set: the rest (counts, timestamps, the ARN) moto derives.
QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "Policy",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
)
# What a message carries beside its id and body: all of it, so a message read back is the one sent.
MESSAGE_FIELDS = (
    "message_attributes",
    "system_attributes",
    "sender_id",
    "sent_timestamp",
    "approximate_first_receive_timestamp",
    "approximate_receive_count",
    "deduplication_id",
    "group_id",
    "sequence_number",
    "visible_at",
    "delayed_until",
)


def _backends() -> tuple[Any, Any]:
    """moto's S3 backend (global, partition `aws`) and SQS backend (us-east-1) of its default account."""
    from moto.backends import get_backend
    from moto.core.models import DEFAULT_ACCOUNT_ID

    return get_backend("s3")[DEFAULT_ACCOUNT_ID]["aws"], get_backend("sqs")[DEFAULT_ACCOUNT_ID][REGION]


def _encode(value: Any) -> Any:
    """json.dumps' `default`: bytes (a binary message attribute) as base64."""
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"{type(value).__name__} is not kept")


def _decode(obj: dict[str, Any]) -> Any:
    if set(obj) == {"$bytes"}:
        return base64.b64decode(obj["$bytes"])
    return obj


def object_file(bucket: str, key: str, etag: str, last_modified: str) -> str:
    """The name of one version of an object's bytes: a new PUT of the key gets a new file."""
    return hashlib.sha256("\0".join((bucket, key, etag, last_modified)).encode()).hexdigest()


class Keeper:
    """Writes moto's S3 and SQS state to `folder` when it changes, and reads it back."""

    def __init__(self, folder: Path, say: Callable[[str], None] | None = None) -> None:
        self.folder = folder
        self.objects = folder / OBJECTS
        self.say = say or (lambda text: print(text, file=sys.stdout, flush=True))
        self.lock = threading.Lock()
        self.written: dict[str, Any] | None = None
        self.stopped = threading.Event()

    # What moto holds, as the state file describes it (object bytes aside).

    def capture(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The state, and the objects whose file is named in it: {file: the FakeKey}."""
        s3, sqs = _backends()
        buckets, keys = [], {}
        for name, bucket in sorted(list(s3.buckets.items())):
            objects = []
            for key_name, key in sorted(bucket.keys.items()):  # moto iterates a copy
                modified = key.last_modified.isoformat()
                file = object_file(name, key_name, key.etag, modified)
                keys[file] = key
                metadata = dict(key.metadata)
                objects.append({"key": key_name, "etag": key.etag, "last_modified": modified, "metadata": metadata, "file": file})
            buckets.append({"name": name, "region": bucket.region_name, "objects": objects})
        queues = []
        for name, queue in sorted(list(sqs.queues.items())):
            attributes = queue.attributes
            kept = {k: attributes[k] for k in QUEUE_ATTRIBUTES if attributes.get(k) is not None}
            messages = [{"id": m.id, "body": m.body, **{f: getattr(m, f) for f in MESSAGE_FIELDS}} for m in list(queue._messages)]
            redrive = attributes.get("RedrivePolicy")
            queues.append({"name": name, "attributes": kept, "redrive_policy": redrive, "tags": dict(queue.tags), "messages": messages})
        return {"version": VERSION, "buckets": buckets, "queues": queues}, keys

    # Writing.

    def save(self) -> bool:
        """Write the state if it changed since the last write; whether it did."""
        with self.lock:
            for _ in range(3):
                try:
                    state, keys = self.capture()
                    break
                except RuntimeError:  # a request changed a dict while it was read: read again
                    continue
            else:
                return False
            if state == self.written:
                return False
            self.objects.mkdir(parents=True, exist_ok=True)
            for file, key in keys.items():
                path = self.objects / file
                if not path.exists():
                    _write_atomically(path, key.value)
            text = json.dumps(state, default=_encode, separators=(",", ":"))
            _write_atomically(self.folder / STATE_FILE, text.encode())
            for path in self.objects.iterdir():
                if path.name not in keys:
                    path.unlink(missing_ok=True)
            self.written = state
            return True

    def run(self, interval: float = INTERVAL) -> None:
        """Save every `interval` seconds until stop(); a failed write is reported and tried again."""
        while not self.stopped.wait(interval):
            try:
                self.save()
            except Exception as exc:  # noqa: BLE001 - the server keeps serving; the next tick tries again
                self.say(f"state not written to {self.folder}: {type(exc).__name__}: {exc}")

    def start(self, interval: float = INTERVAL) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(interval,), name="aws-state", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stopped.set()

    # Reading back.

    def load(self) -> None:
        """Fill moto with what the folder holds (nothing when it holds nothing). An unreadable
        state file is reported and the server starts empty, as a first run does."""
        path = self.folder / STATE_FILE
        try:
            state = json.loads(path.read_bytes(), object_hook=_decode)
            if not isinstance(state, dict) or state.get("version") != VERSION:
                raise ValueError("not the expected shape")
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            self.say(f"{path} unreadable ({type(exc).__name__}), starting without the S3 and SQS state it held")
            return
        s3, sqs = _backends()
        objects = messages = 0
        for bucket in state["buckets"]:
            objects += self._load_bucket(s3, bucket)
        for queue in state["queues"]:
            messages += self._load_queue(sqs, queue)
        for queue in state["queues"]:  # a redrive policy names its DLQ, which must exist first
            if queue.get("redrive_policy"):
                sqs.set_queue_attributes(queue["name"], {"RedrivePolicy": queue["redrive_policy"]})
        self.written = self.capture()[0]
        buckets, queues = _count(len(state["buckets"]), "bucket"), _count(len(state["queues"]), "queue")
        self.say(f"kept state read back: {_count(objects, 'object')} in {buckets}, {_count(messages, 'message')} in {queues}")

    def _load_bucket(self, s3: Any, bucket: dict[str, Any]) -> int:
        from moto.s3.exceptions import BucketAlreadyExists

        with contextlib.suppress(BucketAlreadyExists):
            s3.create_bucket(bucket["name"], bucket["region"])
        loaded = 0
        for item in bucket["objects"]:
            try:
                value = (self.objects / item["file"]).read_bytes()
            except OSError:
                self.say(f"an object of bucket {bucket['name']} lost its file; left out")
                continue
            # moto keeps an ETag without its quotes and adds them when it answers.
            key = s3.put_object(bucket["name"], item["key"], value, etag=item["etag"].strip('"'), disable_notification=True)
            key.set_metadata(dict(item["metadata"]))
            key.last_modified = datetime.datetime.fromisoformat(item["last_modified"])
            loaded += 1
        return loaded

    @staticmethod
    def _load_queue(sqs: Any, queue: dict[str, Any]) -> int:
        from moto.sqs.models import Message

        made = sqs.create_queue(queue["name"], tags=queue["tags"] or None, **queue["attributes"])
        for item in queue["messages"]:
            message = Message(item["id"], item["body"])
            for field in MESSAGE_FIELDS:
                setattr(message, field, item[field])
            made._messages.append(message)
        return len(queue["messages"])


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _write_atomically(path: Path, data: bytes) -> None:
    """Write a sibling, then rename it over `path`: a reader sees the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
