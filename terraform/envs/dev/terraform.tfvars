environment        = "dev"
aws_region         = "eu-west-1"
log_level          = "DEBUG"
force_destroy      = true
cache_node_type    = "cache.t4g.micro"
cache_nodes        = 2
az_count           = 2
vpc_cidr_block     = "10.40.0.0/16"
log_retention_days = 365

secret_recovery_window_in_days = 7

loader_reserved_concurrency = 5

signon_min_capacity   = 1
signon_max_capacity   = 2
speedrun_min_capacity = 1
speedrun_max_capacity = 4
