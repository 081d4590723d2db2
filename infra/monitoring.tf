# Alarms and a dashboard for one stage. Every alarm notifies one SNS topic:
# subscribe an email address with alarm_email, or anything else (a chat
# webhook through AWS Chatbot, a pager) to the topic. docs/OPERATIONS.md says
# what each alarm means and what to do about it.

variable "alarm_email" {
  description = "An email address subscribed to the stage's alarm topic (empty: none; subscribe anything to the topic yourself)."
  type        = string
  default     = ""
}

variable "stream_iterator_age_alarm_ms" {
  description = "Alarm when a stream function falls this far behind its stream (milliseconds)."
  type        = number
  default     = 30000
}

variable "throttled_share_alarm" {
  description = "Alarm when more than this share of posts to connections is answered 429 over 5 minutes."
  type        = number
  default     = 0.05
}

variable "concurrency_alarm_share" {
  description = "Alarm when the REST function uses this share of its reserved concurrency."
  type        = number
  default     = 0.8
}

locals {
  # Chalice's function names: the REST handler is "<app>-<stage>", every other "<app>-<stage>-<name>".
  monitored_functions = {
    for name in concat(local.lambda_functions, ["deliver_to_connections"]) :
    name => name == "api_handler" ? "${var.app_name}-${var.stage}" : "${var.app_name}-${var.stage}-${name}"
  }
  # The functions fed by a DynamoDB stream (.chalice/permissions.json "streams").
  stream_functions = {
    for name, spec in jsondecode(file(local.permissions_file)) :
    name => local.monitored_functions[name] if !startswith(name, "_") && length(try(spec.streams, [])) > 0
  }
  # The handlers' EMF metrics (chalicelib/observability.py; stage_config puts it in
  # METRICS_NAMESPACE).
  metrics_namespace = "${var.app_name}/${var.stage}"
  # chalice names the REST API after the app; its stage is "api".
  rest_api_name = var.app_name
  rest_stage    = "api"
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.app_name}-${var.stage}-alarms"
  kms_master_key_id = "alias/aws/sns"
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email != "" ? 1 : 0
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# Every alarm on one AWS metric against a threshold, by name (the 429 share below
# is metric math). Each notifies the topic when it fires and when it clears, and
# treats missing data as fine: a quiet stage is a healthy one.
locals {
  queues = merge(
    { "failed-deliveries" = aws_sqs_queue.failed_deliveries.name },
    { for function, queue in aws_sqs_queue.failed_stream_batches : "failed-${function}" => queue.name },
  )
  alarms = merge(
    {
      for name, function in local.stream_functions : "${function}-iterator-age" => {
        description = "${name} is more than ${var.stream_iterator_age_alarm_ms / 1000} s behind its stream: deliveries are late."
        namespace   = "AWS/Lambda", metric = "IteratorAge", dimensions = { FunctionName = function }
        statistic   = "Maximum", period = 60, periods = 1, threshold = var.stream_iterator_age_alarm_ms
        comparison  = "GreaterThanThreshold"
      }
    },
    merge([
      for name, function in local.monitored_functions : {
        for metric in ["Errors", "Throttles"] : "${function}-${lower(metric)}" => {
          description = metric == "Errors" ? "${name} failed at least once in a minute." : "${name} was throttled by Lambda's concurrency limits."
          namespace   = "AWS/Lambda", metric = metric, dimensions = { FunctionName = function }
          statistic   = "Sum", period = 60, periods = 1, threshold = 0, comparison = "GreaterThanThreshold"
        }
      }
    ]...),
    {
      "${var.app_name}-${var.stage}-rest-5xx" = {
        description = "The REST API answered 5xx."
        namespace   = "AWS/ApiGateway", metric = "5XXError"
        dimensions  = { ApiName = local.rest_api_name, Stage = local.rest_stage }
        statistic   = "Sum", period = 60, periods = 1, threshold = 0, comparison = "GreaterThanThreshold"
      }
    },
    {
      for name, queue in local.queues : "${var.app_name}-${var.stage}-${name}-queued" => {
        description = "${queue} holds what kept failing: fix the cause, then replay it."
        namespace   = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible", dimensions = { QueueName = queue }
        statistic   = "Maximum", period = 300, periods = 1, threshold = 0, comparison = "GreaterThanThreshold"
      }
    },
    local.api_reserved_concurrency > 0 ? {
      "${var.app_name}-${var.stage}-rest-concurrency" = {
        description = "The REST function uses ${var.concurrency_alarm_share * 100}% of its reserved concurrency: logins and signups will be throttled next."
        namespace   = "AWS/Lambda", metric = "ConcurrentExecutions"
        dimensions  = { FunctionName = local.monitored_functions["api_handler"] }
        statistic   = "Maximum", period = 60, periods = 3
        threshold   = ceil(local.api_reserved_concurrency * var.concurrency_alarm_share)
        comparison  = "GreaterThanOrEqualToThreshold"
      }
    } : {},
  )
}

resource "aws_cloudwatch_metric_alarm" "threshold" {
  for_each = local.alarms

  alarm_name          = each.key
  alarm_description   = "${each.value.description} (docs/OPERATIONS.md)"
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = each.value.period
  evaluation_periods  = each.value.periods
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# From the handlers' own EMF metric: a 429 is the account's request rate (or a
# full client buffer); a share of them means the whole region's API Gateway
# budget is being spent.
resource "aws_cloudwatch_metric_alarm" "connections_throttled" {
  alarm_name          = "${var.app_name}-${var.stage}-connections-throttled"
  alarm_description   = "More than ${var.throttled_share_alarm * 100}% of posts to connections were answered 429 in 5 minutes: the account's API Gateway request rate is spent (docs/OPERATIONS.md)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.throttled_share_alarm
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "share"
    expression  = "IF(sent + throttled > 0, throttled / (sent + throttled), 0)"
    label       = "share of posts throttled"
    return_data = true
  }

  metric_query {
    id = "sent"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "Deliveries"
      dimensions  = { outcome = "sent" }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "throttled"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "Deliveries"
      dimensions  = { outcome = "throttled" }
      stat        = "Sum"
      period      = 300
    }
  }
}

resource "aws_cloudwatch_dashboard" "stage" {
  dashboard_name = "${var.app_name}-${var.stage}"
  dashboard_body = jsonencode({
    widgets = concat([
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "Stream lag (IteratorAge, max)"
          region  = var.region
          stat    = "Maximum"
          period  = 60
          metrics = [for name, function in local.stream_functions : ["AWS/Lambda", "IteratorAge", "FunctionName", function, { label = name }]]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Lambda errors and throttles"
          region = var.region
          stat   = "Sum"
          period = 60
          metrics = concat(
            [for name, function in local.monitored_functions : ["AWS/Lambda", "Errors", "FunctionName", function, { label = "${name} errors" }]],
            [for name, function in local.monitored_functions : ["AWS/Lambda", "Throttles", "FunctionName", function, { label = "${name} throttles" }]],
          )
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title  = "REST API"
          region = var.region
          stat   = "Sum"
          period = 60
          metrics = [
            ["AWS/ApiGateway", "Count", "ApiName", local.rest_api_name, "Stage", local.rest_stage],
            ["AWS/ApiGateway", "4XXError", "ApiName", local.rest_api_name, "Stage", local.rest_stage],
            ["AWS/ApiGateway", "5XXError", "ApiName", local.rest_api_name, "Stage", local.rest_stage],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title  = "Concurrency and failed deliveries"
          region = var.region
          stat   = "Maximum"
          period = 60
          metrics = [
            ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", local.monitored_functions["api_handler"], { label = "REST function concurrency" }],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.failed_deliveries.name, { label = "failed deliveries queued" }],
          ]
        }
      },
      {
        type = "text", x = 0, y = 12, width = 24, height = 1
        properties = {
          markdown = "## The application: the handlers' own metrics (EMF, namespace `${local.metrics_namespace}`; docs/OPERATIONS.md)"
        }
      },
    ], local.application_widgets)
  })
}

# The dashboard's application rows: the handlers' EMF metrics (chalicelib/observability.py),
# four widgets a row under the AWS metrics above. Each entry: title, statistic,
# metrics (namespace, name, dimension pairs..., options).
locals {
  # The outcomes counted in Deliveries: chalicelib/connections_api.py's Delivery, less
  # "late" (a post not sent is not a delivery); tests/infra checks the two agree.
  delivery_outcomes = ["sent", "gone", "throttled", "refused", "too_large", "failed"]
  application_panels = [
    {
      title = "Messages stored and read from the stream", stat = "Sum"
      metrics = [
        [local.metrics_namespace, "MessagesStored", { label = "stored (sendMessage)" }],
        [local.metrics_namespace, "StreamMessages", { label = "read by the fan-out" }],
      ]
    },
    {
      title = "Deliveries by outcome", stat = "Sum"
      metrics = [
        for outcome in local.delivery_outcomes :
        [local.metrics_namespace, "Deliveries", "outcome", outcome, { label = outcome }]
      ]
    },
    {
      title = "Posts per delivered message", stat = "Sum"
      metrics = concat(
        [[{ expression = "SUM([${join(", ", [for o in local.delivery_outcomes : "d_${o}"])}]) / messages", label = "posts per message", id = "ratio" }]],
        [for o in local.delivery_outcomes : [local.metrics_namespace, "Deliveries", "outcome", o, { id = "d_${o}", visible = false }]],
        [[local.metrics_namespace, "StreamMessages", { id = "messages", visible = false }]],
      )
    },
    {
      title = "Fan-out lag (ms, stream record to last post)", stat = "Maximum"
      metrics = [
        [local.metrics_namespace, "FanoutLag", { stat = "p50", label = "median" }],
        [local.metrics_namespace, "FanoutLag", { stat = "p99", label = "p99" }],
        [local.metrics_namespace, "FanoutLag", { label = "max" }],
      ]
    },
    {
      title = "Catch-up requests and changes served", stat = "Sum"
      metrics = [
        [local.metrics_namespace, "CatchUpRequests", "kind", "getChanges", { label = "getChanges" }],
        [local.metrics_namespace, "CatchUpRequests", "kind", "getMessages", { label = "getMessages (after)" }],
        [local.metrics_namespace, "ChangesServed", { label = "changes served" }],
      ]
    },
    {
      title = "Logins by outcome", stat = "Sum"
      metrics = [
        for outcome in ["ok", "refused", "throttled"] :
        [local.metrics_namespace, "Logins", "outcome", outcome, { label = outcome }]
      ]
    },
    {
      title = "Connections opened and closed", stat = "Sum"
      metrics = [
        [local.metrics_namespace, "ConnectionsOpened", { label = "opened ($connect)" }],
        [local.metrics_namespace, "ConnectionsClosed", { label = "closed ($disconnect)" }],
      ]
    },
    {
      title = "Cold starts", stat = "Sum"
      metrics = [
        for name, function in local.monitored_functions :
        [local.metrics_namespace, "ColdStart", "function", function, { label = name }]
      ]
    },
  ]
  application_widgets = [
    for index, panel in local.application_panels : {
      type = "metric", x = (index % 4) * 6, y = 13 + floor(index / 4) * 6, width = 6, height = 6
      properties = {
        title   = panel.title
        region  = var.region
        stat    = panel.stat
        period  = 60
        metrics = panel.metrics
      }
    }
  ]
}

output "metrics_namespace" {
  description = "Namespace of the handlers' EMF metrics (METRICS_NAMESPACE)."
  value       = local.metrics_namespace
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm of the stage notifies: subscribe an email, a chat webhook or a pager to it."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_name" {
  description = "The stage's CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.stage.dashboard_name
}

# Powertools for AWS Lambda (chalicelib/observability.py) comes from AWS's
# published layer, not the deployment package. Its version is the one pinned in
# requirements-dev.txt (what local runs and tests use); AWS publishes each
# version's layer ARN as a public SSM parameter. An emulator has none of it: no
# layer is set there (it runs no function either).
variable "powertools_version" {
  description = "Powertools for AWS Lambda (Python) version of the layer (empty: the one pinned in requirements-dev.txt)."
  type        = string
  default     = ""
}

variable "xray_tracing" {
  description = "X-Ray traces of every function (chalicelib/tracing.py): active tracing, TRACING=on and the X-Ray write grant. Off by default: traces cost per segment and the tracer's import adds to cold starts."
  type        = bool
  default     = false
}

output "xray_tracing" {
  description = "Whether the stage's functions are traced (deploy.sh writes it into .chalice/config.json)."
  value       = var.xray_tracing
}

locals {
  powertools_pin = try(
    regex("aws-lambda-powertools==([0-9.]+)", file("${path.module}/../requirements-dev.txt"))[0], ""
  )
  powertools_version = var.powertools_version != "" ? var.powertools_version : local.powertools_pin
}

data "aws_ssm_parameter" "powertools_layer" {
  count = !local.emulated && local.powertools_version != "" ? 1 : 0
  name  = "/aws/service/powertools/python/x86_64/python3.11/${local.powertools_version}"
}

output "powertools_layer_arn" {
  description = "The Powertools layer every function gets (.chalice/config.json layers); empty on an emulator."
  value       = try(data.aws_ssm_parameter.powertools_layer[0].insecure_value, "")
}
