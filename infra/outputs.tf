output "region" {
  description = "Region of every resource."
  value       = var.region
}

output "account_id" {
  description = "Account the stage lives in (IAM policy ARNs are built from it)."
  value       = data.aws_caller_identity.current.account_id
}

output "partition" {
  description = "ARN partition (aws, aws-cn, aws-us-gov)."
  value       = data.aws_partition.current.partition
}

output "table_names" {
  description = "Physical table name per logical name of chalicelib/tables.json."
  value       = { for logical, table in aws_dynamodb_table.table : logical => table.name }
}

output "table_arns" {
  description = "Table ARN per logical name."
  value       = { for logical, table in aws_dynamodb_table.table : logical => table.arn }
}

output "stream_arns" {
  description = "Stream ARN per logical table that has one (each goes in its tables.json stream_arn_env)."
  value       = { for logical, table in aws_dynamodb_table.table : logical => table.stream_arn if table.stream_enabled }
}

output "site_bucket" {
  description = "Private bucket that holds the built site (read only by the distribution)."
  value       = aws_s3_bucket.site.id
}

output "distribution_id" {
  description = "CloudFront distribution of the site (deploy.sh invalidates index.html and config.json)."
  value       = aws_cloudfront_distribution.site.id
}

output "website_url" {
  description = "The site's address (HTTPS through CloudFront)."
  value       = "https://${local.site_host}"
}

output "site_origin" {
  description = "Origin the REST API allows through CORS (CORS_ORIGIN)."
  value       = "https://${local.site_host}"
}

output "content_security_policy" {
  description = "The Content-Security-Policy the site is served with."
  value       = local.content_security_policy
}

output "throttles" {
  description = "Throttles deploy.sh applies after chalice deploy (docs/DEPLOY.md)."
  value = {
    rest_rate_limit          = var.rest_throttle_rate_limit
    rest_burst_limit         = var.rest_throttle_burst_limit
    websocket_rate_limit     = var.websocket_throttle_rate_limit
    websocket_burst_limit    = var.websocket_throttle_burst_limit
    api_reserved_concurrency = local.api_reserved_concurrency
  }
}

output "jwt_secret_parameter" {
  description = "Name of the SSM SecureString holding the JWT secret (JWT_SECRET_PARAMETER)."
  value       = aws_ssm_parameter.jwt_secret.name
}

output "jwt_secret_parameter_arn" {
  description = "ARN of that parameter (the one ssm:GetParameter grant)."
  value       = aws_ssm_parameter.jwt_secret.arn
}

output "admin_users" {
  description = "The stage's admins, written to ADMIN_USERS by infra/tools stage-config."
  value       = var.admin_users
}
