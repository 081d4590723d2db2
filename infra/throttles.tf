# Reserved concurrency of the REST function: bcrypt on every signup and login
# must not take the account's whole concurrency ($connect and the fan-out share
# it). AWS keeps 100 unreserved, so an account whose quota is lower (new accounts
# may have 10) cannot reserve anything: then nothing is reserved, with a warning.
locals {
  minimum_unreserved_concurrency = 100
  api_reserved_concurrency = (
    var.account_unreserved_concurrency < 0 ||
    var.account_unreserved_concurrency - var.api_reserved_concurrency >= local.minimum_unreserved_concurrency
  ) ? var.api_reserved_concurrency : 0
  # The provider's spelling (--terraform): -1 is "unreserved", 0 would stop the function.
  api_reserved_concurrent_executions = local.api_reserved_concurrency > 0 ? local.api_reserved_concurrency : -1
}

check "api_reserved_concurrency" {
  assert {
    condition     = local.api_reserved_concurrency == var.api_reserved_concurrency
    error_message = "The account can reserve ${var.account_unreserved_concurrency} concurrent executions; reserving ${var.api_reserved_concurrency} for the REST function would leave fewer than ${local.minimum_unreserved_concurrency} unreserved, which AWS refuses. Skipped: the REST function is not capped. Raise the account's quota (Service Quotas, Lambda 'Concurrent executions') and deploy again."
  }
}
