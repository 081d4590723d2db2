# The React site: a private S3 bucket served only through CloudFront over HTTPS.
# The bucket has every public-access block on and no website endpoint; CloudFront
# reads it with Origin Access Control (signed requests), and the bucket policy
# lets only this distribution's service principal read objects.
locals {
  # Bucket names are global: the account id and region keep this one unique.
  site_bucket = "${var.app_name}-${var.stage}-site-${data.aws_caller_identity.current.account_id}-${var.region}"
  # Built here rather than read from the distribution: the emulator's ARN lacks
  # CloudFront's empty region field, and this form is the one AWS uses.
  distribution_arn = "arn:${data.aws_partition.current.partition}:cloudfront::${data.aws_caller_identity.current.account_id}:distribution/${aws_cloudfront_distribution.site.id}"
  site_host        = length(var.site_aliases) > 0 ? var.site_aliases[0] : aws_cloudfront_distribution.site.domain_name
  # Managed cache policies (AWS-owned ids, the same in every account).
  caching_optimized = "658327ea-f89d-4fab-a63d-7e88639e58f6" # honours the objects' Cache-Control
  caching_disabled  = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
  # Changed on every deploy: never cached at the edge (browsers revalidate too).
  uncached_paths = ["/index.html", "/config.json"]
  # The site talks to its own origin (config.json) and to the two APIs, whose
  # origins exist only after `chalice deploy` (deploy.sh passes them in).
  content_security_policy = join("; ", [
    "default-src 'self'",
    join(" ", concat(["connect-src 'self'"], var.api_origins)),
    "img-src 'self' data:",
    "style-src 'self'",
    "script-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ])
}

resource "aws_s3_bucket" "site" {
  bucket = local.site_bucket
  # The objects are build output (deploy.sh uploads them again): destroying the
  # stage may take them along.
  force_destroy = true

  #checkov:skip=CKV_AWS_18:access logs of a static site rebuilt from git are not worth a second bucket here
  #checkov:skip=CKV_AWS_21:objects are rebuilt from git on every deploy; versioning would only keep stale builds
  #checkov:skip=CKV_AWS_144:cross-region replication is out of scope for a rebuildable site
  #checkov:skip=CKV_AWS_145:SSE-S3 is enough for public site files; a KMS key would need a key policy for CloudFront
  #checkov:skip=CKV2_AWS_61:no lifecycle needed; deploy.sh deletes objects that left the build
  #checkov:skip=CKV2_AWS_62:nothing listens for object events
}

resource "aws_s3_bucket_ownership_controls" "site" {
  bucket = aws_s3_bucket.site.id
  rule {
    object_ownership = "BucketOwnerEnforced" # ACLs off: the policy is the only grant
  }
}

resource "aws_s3_bucket_public_access_block" "site" {
  bucket = aws_s3_bucket.site.id

  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "site" {
  bucket = aws_s3_bucket.site.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

data "aws_iam_policy_document" "site_read_by_cloudfront" {
  statement {
    sid       = "ReadByThisDistributionOnly"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.site.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [local.distribution_arn]
    }
  }
}

resource "aws_s3_bucket_policy" "site" {
  bucket     = aws_s3_bucket.site.id
  policy     = data.aws_iam_policy_document.site_read_by_cloudfront.json
  depends_on = [aws_s3_bucket_public_access_block.site, aws_s3_bucket_ownership_controls.site]
}

resource "aws_cloudfront_origin_access_control" "site" {
  name                              = local.site_bucket
  description                       = "CloudFront reads ${local.site_bucket} with signed requests"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# Not modelled by the emulator (it answers 404): made only on AWS, checked
# offline by terraform validate and checkov (docs/DEPLOY.md).
resource "aws_cloudfront_response_headers_policy" "site" {
  count = local.emulated ? 0 : 1

  name    = "${var.app_name}-${var.stage}-security-headers"
  comment = "CSP, HSTS, nosniff, Referrer-Policy and no framing for the chat site"

  security_headers_config {
    content_security_policy {
      content_security_policy = local.content_security_policy
      override                = true
    }
    strict_transport_security {
      access_control_max_age_sec = 63072000 # two years
      include_subdomains         = true
      # "preload" consents to the browsers' HSTS preload list: the domain owner's decision.
      preload = false
      #checkov:skip=CKV_AWS_259:HSTS without the preload token (see above)
      override = true
    }
    content_type_options {
      override = true
    }
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
  }
}

resource "aws_cloudfront_distribution" "site" {
  enabled             = true
  comment             = "${var.app_name} ${var.stage} site"
  default_root_object = "index.html"
  http_version        = "http2and3"
  is_ipv6_enabled     = true
  price_class         = var.cloudfront_price_class
  aliases             = var.site_aliases
  # The emulator never finishes a deployment; on AWS wait, so the URL works when we print it.
  wait_for_deployment = !local.emulated

  origin {
    origin_id                = "site"
    domain_name              = aws_s3_bucket.site.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.site.id
  }

  default_cache_behavior {
    target_origin_id           = "site"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = local.caching_optimized
    response_headers_policy_id = local.emulated ? null : aws_cloudfront_response_headers_policy.site[0].id
  }

  dynamic "ordered_cache_behavior" {
    for_each = local.uncached_paths
    content {
      path_pattern               = ordered_cache_behavior.value
      target_origin_id           = "site"
      viewer_protocol_policy     = "redirect-to-https"
      allowed_methods            = ["GET", "HEAD"]
      cached_methods             = ["GET", "HEAD"]
      compress                   = true
      cache_policy_id            = local.caching_disabled
      response_headers_policy_id = local.emulated ? null : aws_cloudfront_response_headers_policy.site[0].id
    }
  }

  # A single-page app: a path that is no object (403 from a private bucket) gets
  # the app, which shows its own "not found".
  dynamic "custom_error_response" {
    for_each = [403, 404]
    content {
      error_code            = custom_error_response.value
      response_code         = 200
      response_page_path    = "/index.html"
      error_caching_min_ttl = 0
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = var.certificate_arn == ""
    acm_certificate_arn            = var.certificate_arn == "" ? null : var.certificate_arn
    ssl_support_method             = var.certificate_arn == "" ? null : "sni-only"
    minimum_protocol_version       = var.certificate_arn == "" ? "TLSv1" : "TLSv1.2_2021"
  }

  #checkov:skip=CKV_AWS_68:a WAF costs more than this sample app; the APIs have their own throttles
  #checkov:skip=CKV_AWS_86:access logs need a log bucket; CloudFront's standard metrics are enough here
  #checkov:skip=CKV_AWS_310:one S3 origin; there is nothing to fail over to
  #checkov:skip=CKV_AWS_374:a public chat site serves every country
  #checkov:skip=CKV2_AWS_47:no WAF (see CKV_AWS_68)
  #checkov:skip=CKV2_AWS_42:the custom certificate is optional (certificate_arn); without it, the cloudfront.net name
  #checkov:skip=CKV_AWS_174:the cloudfront.net certificate fixes TLS 1.0 as minimum; with certificate_arn it is TLS 1.2
}
