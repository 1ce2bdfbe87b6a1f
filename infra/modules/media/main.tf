# The media bucket: inbound items re-hosted from Twilio (inbound/<sid>/<n>) and outbound
# images converted to JPEG (outbound/<id>.jpg). Private, SSE-KMS with its own key, TLS only,
# every object expired by a lifecycle rule. Readers get presigned links (SigV4) from the
# outbound service; nothing is public.

locals {
  prefix = "omni-twilio-${var.stage}"
}

module "key" {
  source               = "../kms_key"
  stage                = var.stage
  name                 = "media"
  description          = "${local.prefix} media bucket"
  deletion_window_days = var.kms_deletion_window_days
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Reads are presigned links the service hands out and logs; server access logs would need a second bucket for copies that expire anyway.
  #checkov:skip=CKV_AWS_144:Copies expire and can be fetched again from their source while they live; cross-region replication would double storage for no recovery need.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to new objects: the writers record each object in the messages table in the same step.
  bucket        = "${local.prefix}-media"
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Writers send no key id: the bucket's default applies (bucket keys cut KMS requests).
resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = module.key.arn
    }
    bucket_key_enabled = true
  }
}

# Versioning guards against an overwrite by mistake; a replaced version lives one day.
resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket     = aws_s3_bucket.this.id
  depends_on = [aws_s3_bucket_versioning.this]

  rule {
    id     = "expire-media"
    status = "Enabled"

    filter {}

    expiration {
      days = var.expiry_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket     = aws_s3_bucket.this.id
  policy     = data.aws_iam_policy_document.bucket.json
  depends_on = [aws_s3_bucket_public_access_block.this]
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "DenyPlainHttp"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

# Moved into module.key (modules/kms_key): these blocks make a plan move the existing key
# and alias in state instead of destroying them and creating new ones.
moved {
  from = aws_kms_key.this
  to   = module.key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.this
  to   = module.key.aws_kms_alias.this
}
