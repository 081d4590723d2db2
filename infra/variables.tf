variable "stage" {
  description = "Chalice stage this infrastructure belongs to (dev, prod, ...)."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.stage))
    error_message = "stage must be 1-16 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "region" {
  description = "AWS region for every resource."
  type        = string
  default     = "us-east-1"
}

variable "app_name" {
  description = "Prefix of every resource name; must match app_name in .chalice/config.json."
  type        = string
  default     = "chalice-chat"
}

variable "tables_file" {
  description = "Path of the table definitions (empty: chalicelib/tables.json next to this module)."
  type        = string
  default     = ""
}

variable "deletion_protection" {
  description = "Protect the tables against deletion (turn on for prod; cleanup.sh then refuses)."
  type        = bool
  default     = false
}

variable "endpoint_url" {
  description = "An AWS emulator's endpoint (e.g. moto on http://127.0.0.1:5000) for offline checks; empty for real AWS."
  type        = string
  default     = ""
}

variable "jwt_secret_version" {
  description = "Raise by one to draw a new JWT secret (rotation; signs every user out)."
  type        = number
  default     = 1
}

variable "permissions_file" {
  description = "Path of the per-function permissions (empty: .chalice/permissions.json of this repository)."
  type        = string
  default     = ""
}

# ----------------------------------------------------------------- the site
variable "certificate_arn" {
  description = "ACM certificate (in us-east-1) for site_aliases; empty: the distribution's cloudfront.net name."
  type        = string
  default     = ""
}

variable "site_aliases" {
  description = "Custom domain names of the site (need certificate_arn); the first is the site's origin."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.site_aliases) == 0 || var.certificate_arn != ""
    error_message = "site_aliases need certificate_arn (an ACM certificate in us-east-1 covering them)."
  }
}

variable "cloudfront_price_class" {
  description = "CloudFront price class (PriceClass_100: North America and Europe edges only)."
  type        = string
  default     = "PriceClass_100"
}

variable "api_origins" {
  description = "Origins of the REST and WebSocket APIs for the site's Content-Security-Policy connect-src (deploy.sh sets them after chalice deploy)."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------- throttles
variable "rest_throttle_rate_limit" {
  description = "REST API stage: steady requests per second, shared by every client (docs/SECURITY.md: sized for 1,000 visible and 4,000 hidden tabs of the site)."
  type        = number
  default     = 50
}

variable "rest_throttle_burst_limit" {
  description = "REST API stage: burst of requests above the steady rate (a reconnect wave after an outage)."
  type        = number
  default     = 100
}

variable "websocket_throttle_rate_limit" {
  description = "WebSocket API stage, default route: steady messages (and connects) per second."
  type        = number
  default     = 100
}

variable "websocket_throttle_burst_limit" {
  description = "WebSocket API stage, default route: burst above the steady rate."
  type        = number
  default     = 200
}

variable "api_reserved_concurrency" {
  description = "Concurrent executions reserved for (and capping) the REST function; deploy.sh skips it with a warning when the account's limit leaves less than 100 unreserved."
  type        = number
  default     = 10
}

variable "account_unreserved_concurrency" {
  description = "What the account can reserve for the REST function (deploy.sh reads it); -1: unknown, reserve anyway."
  type        = number
  default     = -1
}

variable "admin_users" {
  description = "Usernames who moderate every public and private room and read reports (ADMIN_USERS; docs/ROOMS.md)."
  type        = list(string)
  default     = []
}
