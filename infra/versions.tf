terraform {
  # 1.11: the JWT secret is an ephemeral value written to a write-only attribute
  # (secret.tf), which keeps it out of plans and state. Anything older would
  # have to store it in the state file.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.87, < 6.0" # 5.87: aws_ssm_parameter.value_wo
    }
  }

  # State is local (infra/terraform.tfstate.d/<stage>/ through workspaces) by
  # default. docs/DEPLOY.md shows the S3 backend block for teams.
}
