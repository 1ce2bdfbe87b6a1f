from __future__ import annotations

import os

# Unit tests never reach AWS: moto intercepts botocore, and these fake credentials stop
# botocore from looking any further for real ones. Nothing here serialises moto's requests:
# moto does not apply a conditional write atomically, so no unit test races requests; the
# races run against DynamoDB Local, in tests/e2e.
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
os.environ.pop("AWS_PROFILE", None)
