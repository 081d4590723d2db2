# The React site: an S3 static website. Visitors may read the site's objects and
# nothing else: no listing, no ACLs, no writes; the public access block stays on
# for ACLs, and only the bucket policy below grants public reads.
locals {
  # Bucket names are global: the account id and region keep this one unique.
  site_bucket = "${var.app_name}-${var.stage}-site-${data.aws_caller_identity.current.account_id}-${var.region}"
}

resource "aws_s3_bucket" "site" {
  bucket = local.site_bucket
  # The objects are build output (deploy.sh uploads them again): destroying the
  # stage may take them along.
  force_destroy = true

  #checkov:skip=CKV_AWS_18:access logs of a public static site are not worth a second bucket here
  #checkov:skip=CKV_AWS_21:objects are rebuilt from git on every deploy; versioning would only keep stale builds
  #checkov:skip=CKV_AWS_144:cross-region replication is out of scope for a rebuildable site
  #checkov:skip=CKV_AWS_145:S3 website endpoints cannot serve KMS-encrypted objects to anonymous visitors
  #checkov:skip=CKV2_AWS_61:no lifecycle needed; deploy.sh deletes objects that left the build
  #checkov:skip=CKV2_AWS_62:nothing listens for object events
  #checkov:skip=CKV2_AWS_6:the access block below is there, with the policy half opened for the website
}

resource "aws_s3_bucket_ownership_controls" "site" {
  bucket = aws_s3_bucket.site.id
  rule {
    object_ownership = "BucketOwnerEnforced" # ACLs off: the policy is the only grant
  }
}

resource "aws_s3_bucket_public_access_block" "site" {
  bucket = aws_s3_bucket.site.id

  block_public_acls  = true
  ignore_public_acls = true
  # A website needs one public policy statement (below); these two must allow it.
  #checkov:skip=CKV_AWS_54:the website's read-only object policy is the one public grant, by design
  #checkov:skip=CKV_AWS_56:the website's read-only object policy is the one public grant, by design
  block_public_policy     = false
  restrict_public_buckets = false
}

resource "aws_s3_bucket_server_side_encryption_configuration" "site" {
  bucket = aws_s3_bucket.site.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_website_configuration" "site" {
  bucket = aws_s3_bucket.site.id
  index_document {
    suffix = "index.html"
  }
  # A single-page app: unknown paths get the app, which shows its own "not found".
  error_document {
    key = "index.html"
  }
}

data "aws_iam_policy_document" "site_public_read" {
  statement {
    sid       = "PublicReadOfSiteObjects"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.site.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
}

resource "aws_s3_bucket_policy" "site" {
  bucket = aws_s3_bucket.site.id
  policy = data.aws_iam_policy_document.site_public_read.json
  # The public access block must allow public policies before this lands.
  depends_on = [aws_s3_bucket_public_access_block.site, aws_s3_bucket_ownership_controls.site]
}
