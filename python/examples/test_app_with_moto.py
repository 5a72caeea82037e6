"""BEFORE: the test as a moto user has it (needs `pip install moto`; not part of the CI suite)."""

import json

import boto3
from moto import mock_aws

from app import database_password


@mock_aws
def test_database_password():
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="prod/db", SecretString=json.dumps({"username": "app", "password": "hunter2"})
    )
    assert database_password("prod/db") == "hunter2"
