resource "aws_efs_file_system" "this" {
  creation_token   = "${var.name}-question-sets"
  encrypted        = true
  kms_key_id       = var.kms_key_arn
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"

  lifecycle_policy {
    transition_to_ia = "AFTER_30_DAYS"
  }

  lifecycle_policy {
    transition_to_primary_storage_class = "AFTER_1_ACCESS"
  }

  tags = merge(var.tags, { Name = "${var.name}-question-sets" })
}

resource "aws_efs_backup_policy" "this" {
  file_system_id = aws_efs_file_system.this.id

  backup_policy {
    status = "ENABLED"
  }
}

# Clients are authorised by their IAM roles (elasticfilesystem:ClientMount/ClientWrite on this file
# system through the access point); the file system policy only refuses unencrypted connections.
resource "aws_efs_file_system_policy" "this" {
  file_system_id = aws_efs_file_system.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyUnencryptedTransport"
      Effect    = "Deny"
      Principal = { AWS = "*" }
      Action    = "*"
      Resource  = aws_efs_file_system.this.arn
      Condition = {
        Bool = { "aws:SecureTransport" = "false" }
      }
    }]
  })
}

# Every client (loader Lambda, sign-on and speedrun tasks) goes through this access point and so
# reads and writes as one POSIX user under /question-sets, whatever uid its process has.
resource "aws_efs_access_point" "this" {
  file_system_id = aws_efs_file_system.this.id

  posix_user {
    uid = var.posix_uid
    gid = var.posix_gid
  }

  root_directory {
    path = "/question-sets"

    creation_info {
      owner_uid   = var.posix_uid
      owner_gid   = var.posix_gid
      permissions = "0750"
    }
  }

  tags = merge(var.tags, { Name = "${var.name}-question-sets" })
}

# Clients attach this (rule-less) group; the mount targets admit NFS from it only.
resource "aws_security_group" "client" {
  #checkov:skip=CKV2_AWS_5:Attached by the clients in other modules (Lambdas' vpc_config, ECS services' network_configuration) through this module's client_security_group_id output; checkov's graph does not follow module outputs.
  name        = "${var.name}-question-sets-client"
  description = "Attach to reach the question-set EFS mount targets"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-question-sets-client" })
}

resource "aws_vpc_security_group_egress_rule" "client_nfs" {
  security_group_id            = aws_security_group.client.id
  description                  = "NFS to the question-set mount targets"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = aws_security_group.mount_target.id
}

resource "aws_security_group" "mount_target" {
  name        = "${var.name}-question-sets-mount-target"
  description = "Question-set EFS mount targets: NFS from clients"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-question-sets-mount-target" })
}

resource "aws_vpc_security_group_ingress_rule" "mount_target_nfs" {
  security_group_id            = aws_security_group.mount_target.id
  description                  = "NFS from question-set clients"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = aws_security_group.client.id
}

resource "aws_efs_mount_target" "this" {
  for_each = toset(var.subnet_ids)

  file_system_id  = aws_efs_file_system.this.id
  subnet_id       = each.value
  security_groups = [aws_security_group.mount_target.id]
}
