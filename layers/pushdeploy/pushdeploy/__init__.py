"""pushdeploy: turn ECR pushes into verified CodeDeploy ECS blue/green deployments.

Imports go one way: handlers (functions/*) -> domain modules here -> adapters over boto3 (`aws`).
"""

__version__ = "0.1.0"
