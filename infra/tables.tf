# Every table comes from chalicelib/tables.json, the one definition the backend,
# the local runtime and the tests read too. Keys starting with "_" are comments.
locals {
  tables_file = var.tables_file != "" ? var.tables_file : "${path.module}/../chalicelib/tables.json"
  tables = {
    for logical, spec in jsondecode(file(local.tables_file)) :
    logical => spec if !startswith(logical, "_")
  }
  # Physical names per stage, e.g. chalice-chat-dev-messages.
  table_names = { for logical, _ in local.tables : logical => "${var.app_name}-${var.stage}-${logical}" }
}

resource "aws_dynamodb_table" "table" {
  for_each = local.tables

  name         = local.table_names[each.key]
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = each.value.hash_key
  range_key    = try(each.value.range_key, null)

  dynamic "attribute" {
    for_each = each.value.attributes
    content {
      name = attribute.key
      type = attribute.value
    }
  }

  dynamic "global_secondary_index" {
    for_each = try(each.value.global_secondary_indexes, [])
    content {
      name               = global_secondary_index.value.name
      hash_key           = global_secondary_index.value.hash_key
      range_key          = try(global_secondary_index.value.range_key, null)
      projection_type    = global_secondary_index.value.projection
      non_key_attributes = try(global_secondary_index.value.non_key_attributes, null)
    }
  }

  # Local indexes share the table's hash key; they allow strongly consistent
  # reads, and can only be created with the table.
  dynamic "local_secondary_index" {
    for_each = try(each.value.local_secondary_indexes, [])
    content {
      name               = local_secondary_index.value.name
      range_key          = local_secondary_index.value.range_key
      projection_type    = local_secondary_index.value.projection
      non_key_attributes = try(local_secondary_index.value.non_key_attributes, null)
    }
  }

  dynamic "ttl" {
    for_each = try([each.value.ttl_attribute], [])
    content {
      attribute_name = ttl.value
      enabled        = true
    }
  }

  stream_enabled   = can(each.value.stream_view_type)
  stream_view_type = try(each.value.stream_view_type, null)

  point_in_time_recovery {
    enabled = true
  }

  # Encrypted with the AWS managed key (aws/dynamodb): no key to administer, and
  # the Lambdas need no kms: permission for it.
  #checkov:skip=CKV_AWS_119:the AWS managed key is a deliberate choice for a sample app (no CMK to pay for or rotate)
  server_side_encryption {
    enabled = true
  }

  deletion_protection_enabled = var.deletion_protection
}
