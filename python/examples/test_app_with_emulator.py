"""AFTER: the same test on the emulator: the decorator is replaced by the fixture argument."""

import json

import boto3

from app import database_password


def test_database_password(secretsmanager_emulator):
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="prod/db", SecretString=json.dumps({"username": "app", "password": "hunter2"})
    )
    assert database_password("prod/db") == "hunter2"
