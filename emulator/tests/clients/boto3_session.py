"""Cross-client session through boto3 against a running emulator (endpoint in SM_ENDPOINT).

Covers create/get/put/describe/list/tag/untag/delete/restore/rotate and reads an error code and message the way
botocore parses them. Exits non-zero (AssertionError) on the first mismatch.
"""
import datetime
import json
import os
import uuid

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["SM_ENDPOINT"]
REGION = os.environ.get("AWS_REGION", "us-east-1")
BUILTIN = f"arn:aws:lambda:{REGION}:123456789012:function:emulator-builtin-rotation"

sm = boto3.client(
    "secretsmanager",
    endpoint_url=ENDPOINT,
    region_name=REGION,
    aws_access_key_id="AKIDEXAMPLE",
    aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    config=botocore.config.Config(retries={"max_attempts": 1}),
)
name = f"boto3/{uuid.uuid4().hex[:8]}/db"

created = sm.create_secret(Name=name, SecretString=json.dumps({"username": "app", "password": "first"}),
                           Description="cross-client", Tags=[{"Key": "team", "Value": "core"}])
arn = created["ARN"]
assert arn.startswith(f"arn:aws:secretsmanager:{REGION}:") and arn.split(":secret:")[1].startswith(name + "-"), arn
assert len(arn.rsplit("-", 1)[1]) == 6, arn
v1 = created["VersionId"]

got = sm.get_secret_value(SecretId=name)
assert json.loads(got["SecretString"])["password"] == "first", "first value"
assert got["VersionStages"] == ["AWSCURRENT"] and got["VersionId"] == v1
assert isinstance(got["CreatedDate"], datetime.datetime), type(got["CreatedDate"])

put = sm.put_secret_value(SecretId=arn, SecretBinary=b"\x00\x01binary\xff")
assert put["VersionStages"] == ["AWSCURRENT"], put
assert sm.get_secret_value(SecretId=name)["SecretBinary"] == b"\x00\x01binary\xff", "binary round trip"
prev = sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
assert prev["VersionId"] == v1, prev

desc = sm.describe_secret(SecretId=name)
assert desc["Name"] == name and desc["Description"] == "cross-client"
assert desc["VersionIdsToStages"][put["VersionId"]] == ["AWSCURRENT"], desc["VersionIdsToStages"]
assert desc["VersionIdsToStages"][v1] == ["AWSPREVIOUS"], desc["VersionIdsToStages"]
assert isinstance(desc["LastChangedDate"], datetime.datetime)

sm.tag_resource(SecretId=name, Tags=[{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "platform"}])
sm.untag_resource(SecretId=name, TagKeys=["env", "missing-key"])
tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=name)["Tags"]}
assert tags == {"team": "platform"}, tags

listed = sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]
assert [s["Name"] for s in listed] == [name], listed
paged = [s["Name"] for page in sm.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": 1})
         for s in page["SecretList"]]
assert name in paged, paged

# Rotation with the emulator's built-in rotation function.
sm.put_secret_value(SecretId=name, SecretString=json.dumps({"username": "app", "password": "second"}))
rot = sm.rotate_secret(SecretId=name, RotationLambdaARN=BUILTIN, RotationRules={"AutomaticallyAfterDays": 7})
rotated = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
assert rotated["username"] == "app" and rotated["password"] != "second" and len(rotated["password"]) >= 16, "rotated"
desc = sm.describe_secret(SecretId=name)
assert desc["RotationEnabled"] is True and desc["RotationLambdaARN"] == BUILTIN
assert desc["RotationRules"]["AutomaticallyAfterDays"] == 7
assert desc["VersionIdsToStages"][rot["VersionId"]] == ["AWSCURRENT"], desc["VersionIdsToStages"]
assert desc["NextRotationDate"] > desc["LastRotatedDate"], desc

# Deletion with a recovery window, restore, then forced deletion.
deleted = sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
assert isinstance(deleted["DeletionDate"], datetime.datetime)
try:
    sm.get_secret_value(SecretId=name)
    raise AssertionError("GetSecretValue on a deleted secret succeeded")
except ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidRequestException", e.response
    assert "marked for deletion" in e.response["Error"]["Message"], e.response
assert "DeletedDate" in sm.describe_secret(SecretId=name)
sm.restore_secret(SecretId=name)
assert "DeletedDate" not in sm.describe_secret(SecretId=name)
sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)

# An error read by botocore: code and message.
try:
    sm.get_secret_value(SecretId=name)
    raise AssertionError("GetSecretValue on a removed secret succeeded")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ResourceNotFoundException", e.response
    assert e.response["Error"]["Message"] == "Secrets Manager can't find the specified secret.", e.response
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response["ResponseMetadata"]
print("boto3 session: ok")
