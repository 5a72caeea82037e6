"""Creating and reading secrets through boto3, and the fresh state each test gets."""

import json

import boto3
import pytest


def test_create_then_get_returns_the_value_and_an_arn_of_the_region(secretsmanager_emulator):
    client = secretsmanager_emulator.client
    created = client.create_secret(
        Name="prod/db", SecretString=json.dumps({"username": "app", "password": "hunter2"})
    )
    assert created["ARN"].startswith(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-"
    )
    got = client.get_secret_value(SecretId="prod/db")
    assert json.loads(got["SecretString"]) == {"username": "app", "password": "hunter2"}
    assert got["VersionId"] == created["VersionId"]
    assert got["VersionStages"] == ["AWSCURRENT"]
    # the same secret by its full ARN
    assert client.get_secret_value(SecretId=created["ARN"])["Name"] == "prod/db"


def test_binary_values_and_new_versions(secretsmanager_emulator):
    client = secretsmanager_emulator.client
    client.create_secret(Name="tls/key", SecretBinary=b"\x00\x01binary\xff")
    assert client.get_secret_value(SecretId="tls/key")["SecretBinary"] == b"\x00\x01binary\xff"
    first = client.describe_secret(SecretId="tls/key")
    client.put_secret_value(SecretId="tls/key", SecretBinary=b"second")
    assert client.get_secret_value(SecretId="tls/key")["SecretBinary"] == b"second"
    previous = client.get_secret_value(SecretId="tls/key", VersionStage="AWSPREVIOUS")
    assert previous["SecretBinary"] == b"\x00\x01binary\xff"
    assert list(first["VersionIdsToStages"]) == [previous["VersionId"]]


def test_a_missing_secret_is_resource_not_found(secretsmanager_emulator):
    client = secretsmanager_emulator.client
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_secret_value(SecretId="nope")


def test_code_building_its_own_client_reaches_the_emulator(secretsmanager_emulator):
    # The fixture sets AWS_ENDPOINT_URL_SECRETS_MANAGER, dummy credentials and the region, so code
    # under test that calls boto3.client("secretsmanager") itself needs no change.
    secretsmanager_emulator.client.create_secret(Name="app/token", SecretString="t0ken")
    own = boto3.client("secretsmanager")
    assert own.get_secret_value(SecretId="app/token")["SecretString"] == "t0ken"


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_starts_with_no_secrets(secretsmanager_emulator, round_):
    # Both rounds create the same name: the second passes only because the fixture reset the
    # emulator in between (CreateSecret of an existing name is ResourceExistsException).
    client = secretsmanager_emulator.client
    assert client.list_secrets()["SecretList"] == []
    client.create_secret(Name="same-name-every-round", SecretString=f"round {round_}")
    assert len(client.list_secrets()["SecretList"]) == 1


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_starts_with_no_faults_and_the_system_clock(secretsmanager_emulator, round_):
    # Round 1 leaves a fault rule, an advanced clock, moto-style rotation and a rotation hook behind;
    # round 2 must not see them.
    emu = secretsmanager_emulator
    assert emu.faults.current()["rules"] == []
    assert emu.clock.offset.total_seconds() == 0
    assert emu.stats()["total"] == 0
    assert emu.rotation_hooks() == {}
    emu.client.create_secret(Name="r", SecretString="v")
    with pytest.raises(emu.client.exceptions.InvalidRequestException):
        emu.client.rotate_secret(SecretId="r")  # would pass if moto mode were left on
    emu.clock.advance(days=30)
    emu.faults(error_rate=1.0, operations="ListSecrets")
    emu.set_strict_rotation(False)
    lambda_arn = "arn:aws:lambda:us-east-1:123456789012:function:left-behind"
    emu.set_rotation_hooks({lambda_arn: "http://127.0.0.1:9/rotate"})
    assert emu.clock.offset.days == 30
    assert emu.rotation_hooks() == {lambda_arn: "http://127.0.0.1:9/rotate"}
