"""RotateSecret: the moto-compatible promotion, the emulator's built-in rotation function, strict
AWS mode, and a scheduled rotation falling due on the emulator's clock."""

import json

import pytest


def _stages(client, secret_id):
    return client.describe_secret(SecretId=secret_id)["VersionIdsToStages"]


def test_rotation_without_a_function_promotes_a_copy_like_moto(secretsmanager_emulator):
    client = secretsmanager_emulator.client
    first = client.create_secret(Name="plain", SecretString="v1")["VersionId"]
    rotated = client.rotate_secret(SecretId="plain")["VersionId"]
    assert rotated != first
    assert _stages(client, "plain") == {first: ["AWSPREVIOUS"], rotated: ["AWSCURRENT"]}
    assert client.get_secret_value(SecretId="plain")["SecretString"] == "v1"
    assert "LastRotatedDate" in client.describe_secret(SecretId="plain")


def test_builtin_rotation_puts_a_new_password_and_keeps_the_other_fields(secretsmanager_emulator):
    emu = secretsmanager_emulator
    client = emu.client
    first = client.create_secret(
        Name="db", SecretString=json.dumps({"username": "app", "password": "old-password"})
    )["VersionId"]
    out = client.rotate_secret(
        SecretId="db",
        RotationLambdaARN=emu.builtin_rotation_arn(),
        RotationRules={"AutomaticallyAfterDays": 30},
    )
    value = json.loads(client.get_secret_value(SecretId="db")["SecretString"])
    assert value["username"] == "app"
    assert value["password"] != "old-password" and len(value["password"]) >= 16
    assert _stages(client, "db") == {first: ["AWSPREVIOUS"], out["VersionId"]: ["AWSCURRENT"]}
    described = client.describe_secret(SecretId="db")
    assert described["RotationEnabled"] is True
    assert described["RotationLambdaARN"].endswith(":function:emulator-builtin-rotation")


def test_strict_mode_refuses_rotation_without_a_function(secretsmanager_emulator):
    emu = secretsmanager_emulator
    emu.client.create_secret(Name="strict", SecretString="v1")
    emu.set_strict_rotation(True)
    with pytest.raises(emu.client.exceptions.InvalidRequestException, match="No Lambda rotation"):
        emu.client.rotate_secret(SecretId="strict")
    # the built-in function is usable in strict mode too
    emu.client.rotate_secret(SecretId="strict", RotationLambdaARN=emu.builtin_rotation_arn())
    assert emu.client.get_secret_value(SecretId="strict")["SecretString"] != "v1"


def test_a_scheduled_rotation_runs_once_the_clock_reaches_it(secretsmanager_emulator):
    emu = secretsmanager_emulator
    client = emu.client
    client.create_secret(Name="sched", SecretString=json.dumps({"password": "initial"}))
    client.rotate_secret(
        SecretId="sched",
        RotationLambdaARN=emu.builtin_rotation_arn(),
        RotationRules={"AutomaticallyAfterDays": 7},
        RotateImmediately=False,
    )
    assert json.loads(client.get_secret_value(SecretId="sched")["SecretString"]) == {
        "password": "initial"
    }
    next_rotation = client.describe_secret(SecretId="sched")["NextRotationDate"]
    assert emu.run_due_rotations() == 0
    now = emu.clock.advance(days=8)
    assert now > next_rotation
    emu.run_due_rotations()
    rotated = json.loads(client.get_secret_value(SecretId="sched")["SecretString"])
    assert rotated["password"] != "initial"
    assert "LastRotatedDate" in client.describe_secret(SecretId="sched")
