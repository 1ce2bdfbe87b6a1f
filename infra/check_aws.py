"""Exit non-zero with a clear message unless AWS credentials work (sts:GetCallerIdentity)."""

from __future__ import annotations

import sys


def main() -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        identity = boto3.client("sts").get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        print(
            f"deploy: no usable AWS credentials ({type(exc).__name__}): set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and AWS_REGION) for the stage's account",
            file=sys.stderr,
        )
        return 2
    print(f"deploy: as {identity['Arn']} in account {identity['Account']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
