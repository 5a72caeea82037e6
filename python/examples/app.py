"""Application code under test in the moto before/after example: it builds its own boto3 client."""

import json

import boto3


def database_password(secret_id: str) -> str:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    value = client.get_secret_value(SecretId=secret_id)["SecretString"]
    return json.loads(value)["password"]
