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
