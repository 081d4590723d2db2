# The Lambdas' log groups, made here so they have a retention (Lambda would
# create them on first use with logs kept forever, and `chalice package`
# cannot express log_retention_in_days). The functions then need no
# logs:CreateLogGroup. Names follow Chalice: the REST handler is "<app>-<stage>".
variable "log_retention_days" {
  description = "How long the Lambdas' logs are kept."
  type        = number
  default     = 14
}

locals {
  permissions_file = var.permissions_file != "" ? var.permissions_file : "${path.module}/../.chalice/permissions.json"
  # Every function of .chalice/permissions.json (keys starting with "_" are comments),
  # but deliver_to_connections, whose log group delivery.tf makes with its metric filter.
  lambda_functions = [
    for name, _ in jsondecode(file(local.permissions_file)) :
    name if !startswith(name, "_") && name != "deliver_to_connections"
  ]
  log_groups = [
    for name in local.lambda_functions :
    name == "api_handler" ? "/aws/lambda/${var.app_name}-${var.stage}" : "/aws/lambda/${var.app_name}-${var.stage}-${name}"
  ]
}

resource "aws_cloudwatch_log_group" "lambda" {
  for_each = toset(local.log_groups)

  name              = each.value
  retention_in_days = var.log_retention_days
  #checkov:skip=CKV_AWS_338:two weeks of chat Lambda logs is the cost/benefit choice here (variable)
  #checkov:skip=CKV_AWS_158:the default CloudWatch Logs encryption is enough for these logs
}
