environment        = "prod"
aws_region         = "eu-west-1"
log_level          = "INFO"
force_destroy      = false
cache_node_type    = "cache.r7g.large"
cache_nodes        = 3
az_count           = 3
vpc_cidr_block     = "10.50.0.0/16"
log_retention_days = 365

secret_recovery_window_in_days = 30

loader_reserved_concurrency = 20

signon_min_capacity           = 2
signon_max_capacity           = 4
speedrun_min_capacity         = 3
speedrun_max_capacity         = 20
speedrun_cpu                  = 1024
speedrun_memory               = 2048
speedrun_connections_per_task = 1000

# TLS 1.2+ for viewers needs a custom domain and a us-east-1 ACM certificate:
# domain_aliases             = ["speedrun.example.com"]
# cloudfront_certificate_arn = "arn:aws:acm:us-east-1:<account>:certificate/<id>"
