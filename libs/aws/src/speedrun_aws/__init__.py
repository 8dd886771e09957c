"""The one place boto3 clients are made, and the local copies of the shared AWS resources."""

from speedrun_aws.clients import aws_client, aws_resource, endpoint_url
from speedrun_aws.resources import LocalResources, ensure_local_resources

__all__ = ["LocalResources", "aws_client", "aws_resource", "endpoint_url", "ensure_local_resources"]
