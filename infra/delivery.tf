# Big rooms are delivered by asynchronous invocations of deliver_to_connections
# (one per page of connections). Lambda retries a failed one twice, then hands
# the event to this queue instead of dropping it: the page (connection ids and
# the messages' keys, never their text: chalicelib/fanout.py) is kept for 14
# days to inspect or replay (python -m infra.tools replay). Chalice cannot configure an on-failure
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

# Each stream mapping's on-failure destination: a batch Lambda gives up on
# (bounded retries, infra/tools/event_source.py) is kept here as a pointer into
# the stream (shard and sequence numbers, no record), and `python -m
# infra.tools replay` re-drives it. The stream keeps records 24 hours, so a
# pointer is kept no longer than that: it holds no text a delete must remove.
resource "aws_sqs_queue" "failed_stream_batches" {
  for_each                  = toset(["on_new_messages", "on_connection_changes"])
  name                      = "${var.app_name}-${var.stage}-failed-${each.key}"
  message_retention_seconds = 24 * 3600
  sqs_managed_sse_enabled   = true
}

output "failed_stream_batches_queue_arns" {
  description = "On-failure destination of each stream mapping, by function (deploy.sh's stream-mappings step sets them)."
  value       = { for function, queue in aws_sqs_queue.failed_stream_batches : function => queue.arn }
}

output "failed_deliveries_queue_arn" {
  description = "On-failure destination of deliver_to_connections (deploy.sh sets it after chalice deploy)."
  value       = aws_sqs_queue.failed_deliveries.arn
}
