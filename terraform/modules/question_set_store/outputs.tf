output "file_system_id" {
  description = "ID of the question-set EFS file system."
  value       = aws_efs_file_system.this.id
}

output "file_system_arn" {
  description = "ARN of the question-set EFS file system (resource of the clients' elasticfilesystem:Client* permissions)."
  value       = aws_efs_file_system.this.arn
}

output "access_point_id" {
  description = "ID of the access point every client mounts."
  value       = aws_efs_access_point.this.id
}

output "access_point_arn" {
  description = "ARN of the access point every client mounts (the Lambda file_system_config arn)."
  value       = aws_efs_access_point.this.arn
}

output "client_security_group_id" {
  description = "Security group a client attaches to reach the mount targets over NFS."
  value       = aws_security_group.client.id
}

output "mount_target_ids" {
  description = "IDs of the mount targets; a Lambda mounting the file system must be created after them."
  value       = [for target in aws_efs_mount_target.this : target.id]
}
