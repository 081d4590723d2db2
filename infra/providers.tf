locals {
  # Offline checks point every service at one emulator; real AWS leaves this off.
  emulated = var.endpoint_url != ""
  endpoint = local.emulated ? var.endpoint_url : null
}

provider "aws" {
  region = var.region

  s3_use_path_style           = local.emulated
  skip_credentials_validation = local.emulated
  skip_requesting_account_id  = local.emulated
  skip_metadata_api_check     = local.emulated

  endpoints {
    apigateway     = local.endpoint
    apigatewayv2   = local.endpoint
    cloudwatch     = local.endpoint
    cloudfront     = local.endpoint
    dynamodb       = local.endpoint
    iam            = local.endpoint
    lambda         = local.endpoint
    logs           = local.endpoint
    s3             = local.endpoint
    sns            = local.endpoint
    secretsmanager = local.endpoint
    sqs            = local.endpoint
    ssm            = local.endpoint
    sts            = local.endpoint
    wafv2          = local.endpoint
  }

  default_tags {
    tags = {
      app   = var.app_name
      stage = var.stage
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
