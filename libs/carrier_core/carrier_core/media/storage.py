"""The media bucket: where copies go and how a reader gets a short-lived link to one."""

from __future__ import annotations

from functools import cache
from typing import IO, Any

S3_SCHEME = "s3://"


@cache
def s3_client(region: str) -> Any:
    """A botocore S3 client (locally AWS_ENDPOINT_URL_S3 points it at the stack's moto server)."""
    import botocore.config
    import botocore.session

    # SigV4: S3 refuses any other signature on reads of SSE-KMS objects, presigned ones too.
    config = botocore.config.Config(
        signature_version="s3v4", connect_timeout=2, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}
    )
    return botocore.session.get_session().create_client("s3", region_name=region, config=config)


def stored_url(bucket: str, key: str) -> str:
    return f"{S3_SCHEME}{bucket}/{key}"


def split_stored_url(url: str) -> tuple[str, str]:
    """Bucket and key of an s3:// URL; ValueError for anything else."""
    if not url.startswith(S3_SCHEME) or "/" not in url[len(S3_SCHEME) :]:
        raise ValueError("not an s3:// URL")
    bucket, _, key = url[len(S3_SCHEME) :].partition("/")
    return bucket, key


def upload(client: Any, bucket: str, key: str, body: IO[bytes], content_type: str, sha256: str) -> None:
    """Stream `body` (a seekable file) to the bucket. Encryption is the bucket's default
    (SSE-KMS with its own key, infra/modules/media), so no key id travels with the call."""
    client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata={"sha256": sha256})


def presigned_get(client: Any, stored: str, ttl_seconds: int) -> str:
    """A link that reads the stored copy for `ttl_seconds`, without credentials."""
    bucket, key = split_stored_url(stored)
    url: str = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=ttl_seconds)
    return url
