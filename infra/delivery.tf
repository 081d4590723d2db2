# Big rooms are delivered by asynchronous invocations of deliver_to_connections
# (one per page of connections). Lambda retries a failed one twice, then hands
# the event to this queue instead of dropping it: the page and its messages are
# kept for 14 days to inspect or replay. Chalice cannot configure an on-failure
# destination and the function exists only after `chalice deploy`, so deploy.sh
# points the function at this queue afterwards (python -m infra.tools
# delivery-destination). Failures are also counted from the function's log line.

locals {
  delivery_function = "${var.app_name}-${var.stage}-deliver_to_connections"
}

resource "aws_sqs_queue" "failed_deliveries" {
  name                      = "${var.app_name}-${var.stage}-failed-deliveries"
  message_retention_seconds = 14 * 24 * 3600
  sqs_managed_sse_enabled   = true
}

resource "aws_cloudwatch_log_group" "delivery" {
  name              = "/aws/lambda/${local.delivery_function}"
  retention_in_days = var.log_retention_days
  #checkov:skip=CKV_AWS_338:two weeks of chat Lambda logs is the cost/benefit choice here (variable)
  #checkov:skip=CKV_AWS_158:the default CloudWatch Logs encryption is enough for these logs
}

# chalicelib/fanout.py logs "delivery failed" once per failed attempt of a page.
resource "aws_cloudwatch_log_metric_filter" "failed_deliveries" {
  name           = "${var.app_name}-${var.stage}-failed-deliveries"
  log_group_name = aws_cloudwatch_log_group.delivery.name
  pattern        = "\"delivery failed\""

  metric_transformation {
    name          = "FailedDeliveries"
    namespace     = var.app_name
    value         = "1"
    default_value = "0"
  }
}

output "failed_deliveries_queue_arn" {
  description = "On-failure destination of deliver_to_connections (deploy.sh sets it after chalice deploy)."
  value       = aws_sqs_queue.failed_deliveries.arn
}
