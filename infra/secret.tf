# The JWT signing secret: random per stage, created here, read by the Lambdas at
# cold start (JWT_SECRET_PARAMETER). An ephemeral password feeds a write-only
# attribute, so the value is never printed, never in a plan and never in the
# Terraform state (this is why the module needs Terraform >= 1.11).
ephemeral "aws_secretsmanager_random_password" "jwt_secret" {
  password_length     = 64
  exclude_punctuation = true
}

resource "aws_ssm_parameter" "jwt_secret" {
  name        = "/${var.app_name}/${var.stage}/jwt-secret"
  description = "HS256 signing secret of ${var.app_name} tokens (stage ${var.stage})"
  type        = "SecureString" # encrypted with the AWS managed key alias/aws/ssm
  #checkov:skip=CKV_AWS_337:the AWS managed key needs no key policy or kms: grant; a CMK adds cost, not protection here
  value_wo = ephemeral.aws_secretsmanager_random_password.jwt_secret.random_password
  # Written once; to rotate, raise jwt_secret_version (every live token is then refused).
  value_wo_version = var.jwt_secret_version
}
