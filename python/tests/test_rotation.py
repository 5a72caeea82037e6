"""RotateSecret: AWS's refusal without a function (the default), the moto-compatible promotion on
request, the emulator's built-in rotation function, and a scheduled rotation falling due on the
emulator's clock."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def _stages(client, secret_id):
    return client.describe_secret(SecretId=secret_id)["VersionIdsToStages"]


def test_rotation_without_a_function_promotes_a_copy_in_moto_mode(secretsmanager_emulator):
    secretsmanager_emulator.set_strict_rotation(False)
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


def test_rotation_without_a_function_is_refused_as_in_aws_by_default(secretsmanager_emulator):
    emu = secretsmanager_emulator
    emu.client.create_secret(Name="strict", SecretString="v1")
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


def test_a_mapped_rotation_function_receives_the_four_steps(secretsmanager_emulator):
    # A rotation "Lambda" served over HTTP by the test: it calls back into the emulator through
    # boto3, as a real rotation function calls Secrets Manager.
    emu = secretsmanager_emulator
    lambda_client = emu.make_client()
    events = []

    class RotationFunction(BaseHTTPRequestHandler):
        def do_POST(self):
            event = json.loads(self.rfile.read(int(self.headers["content-length"])))
            events.append(event)
            secret, token = event["SecretId"], event["ClientRequestToken"]
            if event["Step"] == "createSecret":
                lambda_client.put_secret_value(
                    SecretId=secret,
                    ClientRequestToken=token,
                    SecretString="from-the-rotation-function",
                    VersionStages=["AWSPENDING"],
                )
            elif event["Step"] == "finishSecret":
                stages = lambda_client.describe_secret(SecretId=secret)["VersionIdsToStages"]
                current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
                lambda_client.update_secret_version_stage(
                    SecretId=secret,
                    VersionStage="AWSCURRENT",
                    MoveToVersionId=token,
                    RemoveFromVersionId=current,
                )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), RotationFunction)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        arn = "arn:aws:lambda:us-east-1:123456789012:function:my-rotator"
        emu.set_rotation_hooks({arn: f"http://127.0.0.1:{server.server_port}/rotate"})
        created = emu.client.create_secret(Name="hooked", SecretString="before")
        out = emu.client.rotate_secret(SecretId="hooked", RotationLambdaARN=arn)
    finally:
        server.shutdown()
        server.server_close()
    assert [e["Step"] for e in events] == [
        "createSecret",
        "setSecret",
        "testSecret",
        "finishSecret",
    ]
    assert {e["ClientRequestToken"] for e in events} == {out["VersionId"]}
    assert all(e["SecretId"] == created["ARN"] for e in events)
    assert emu.client.get_secret_value(SecretId="hooked")["SecretString"] == (
        "from-the-rotation-function"
    )
    assert _stages(emu.client, "hooked") == {
        created["VersionId"]: ["AWSPREVIOUS"],
        out["VersionId"]: ["AWSCURRENT"],
    }
