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

output "messages_stream_arn" {
  description = "The messages table's stream (MESSAGES_STREAM_ARN; source of on_new_messages)."
  value       = aws_dynamodb_table.table["messages"].stream_arn
}

output "site_bucket" {
  description = "Bucket that holds the built site."
  value       = aws_s3_bucket.site.id
}

output "website_url" {
  description = "The site's address (S3 website endpoint, plain HTTP)."
  value       = "http://${aws_s3_bucket_website_configuration.site.website_endpoint}"
}

output "site_origin" {
  description = "Origin the REST API allows through CORS (CORS_ORIGIN)."
  value       = "http://${aws_s3_bucket_website_configuration.site.website_endpoint}"
}

output "jwt_secret_parameter" {
  description = "Name of the SSM SecureString holding the JWT secret (JWT_SECRET_PARAMETER)."
  value       = aws_ssm_parameter.jwt_secret.name
}

output "jwt_secret_parameter_arn" {
  description = "ARN of that parameter (the one ssm:GetParameter grant)."
  value       = aws_ssm_parameter.jwt_secret.arn
}
