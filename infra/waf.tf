# Per-client limits the stage throttles cannot give (docs/SECURITY.md): API
# Gateway's stage throttle is one bucket shared by every client, so one client
# could spend it for everyone. AWS WAF's rate-based rules count per source IP
# over a sliding window and block only the IP that goes over. WAF attaches to
# REST API stages (not to WebSocket APIs): deploy.sh associates this ACL with
# the REST stage after chalice deploy (infra/tools throttles); the --terraform
# path does it with an aws_wafv2_web_acl_association (infra/tools/combined.py).
variable "waf_requests_per_ip" {
  description = "Requests per source IP per waf_window_seconds to the REST API, any path, before WAF blocks that IP (docs/SECURITY.md: sized from the site's own traffic)."
  type        = number
  default     = 2000

  validation {
    condition     = var.waf_requests_per_ip >= 10
    error_message = "AWS WAF rate-based rules need a limit of at least 10."
  }
}

variable "waf_auth_requests_per_ip" {
  description = "POST /login, /signup and /refresh per source IP per waf_window_seconds before WAF blocks that IP's auth calls."
  type        = number
  default     = 100

  validation {
    condition     = var.waf_auth_requests_per_ip >= 10
    error_message = "AWS WAF rate-based rules need a limit of at least 10."
  }
}

variable "waf_window_seconds" {
  description = "The window WAF counts each IP's requests over (60, 120, 300 or 600)."
  type        = number
  default     = 300

  validation {
    condition     = contains([60, 120, 300, 600], var.waf_window_seconds)
    error_message = "AWS WAF evaluation windows are 60, 120, 300 or 600 seconds."
  }
}

resource "aws_wafv2_web_acl" "rest" {
  name        = "${var.app_name}-${var.stage}-rest"
  description = "Per-source-IP rate limits on the REST API stage of ${var.app_name}-${var.stage}"
  scope       = "REGIONAL"
  #checkov:skip=CKV_AWS_192:the API runs Python Lambdas, no Java: the Log4j managed rule group guards nothing here
  #checkov:skip=CKV2_AWS_31:WAF request logging (a log group per stage, and its cost) is left to the operator; CloudWatch metrics and sampled requests are on

  default_action {
    allow {}
  }

  rule {
    name     = "auth-per-ip"
    priority = 0

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit                 = var.waf_auth_requests_per_ip
        evaluation_window_sec = var.waf_window_seconds
        aggregate_key_type    = "IP"

        scope_down_statement {
          regex_match_statement {
            regex_string = "/(login|signup|refresh)$"

            field_to_match {
              uri_path {}
            }

            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.app_name}-${var.stage}-auth-per-ip"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "requests-per-ip"
    priority = 1

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit                 = var.waf_requests_per_ip
        evaluation_window_sec = var.waf_window_seconds
        aggregate_key_type    = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.app_name}-${var.stage}-requests-per-ip"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.app_name}-${var.stage}-rest"
    sampled_requests_enabled   = true
  }
}

output "waf_web_acl_arn" {
  description = "The REST stage's web ACL (per-source-IP rate limits); deploy.sh associates it with the stage."
  value       = aws_wafv2_web_acl.rest.arn
}
