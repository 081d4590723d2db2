# Test-only, copied into the scratch repository's infra/ by tests/infra (never
# shipped). moto 5.2.1 answers a distribution without its origin's OAC id, with
# forwarded_values it invented and an ssl_support_method, so every plan would
# show it changed. Terraform merges this into aws_cloudfront_distribution.site.
resource "aws_cloudfront_distribution" "site" {
  lifecycle {
    ignore_changes = [origin, default_cache_behavior, ordered_cache_behavior, viewer_certificate]
  }
}
