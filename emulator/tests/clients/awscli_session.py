"""Cross-client session through the AWS CLI (`aws` from the venv, path in AWS_CLI) against SM_ENDPOINT.

Runs each command as a user would, parses the CLI's JSON output, and checks the error text the CLI prints.
"""
import json
import os
import subprocess
import time
import uuid

ENDPOINT = os.environ["SM_ENDPOINT"]
AWS = os.environ.get("AWS_CLI", "aws")
REGION = os.environ.get("AWS_REGION", "us-east-1")
BUILTIN = f"arn:aws:lambda:{REGION}:123456789012:function:emulator-builtin-rotation"
ENV = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret", AWS_DEFAULT_REGION=REGION,
           AWS_PAGER="", AWS_MAX_ATTEMPTS="1", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)


def run(*args, expect_ok=True):
    cmd = [AWS, "--endpoint-url", ENDPOINT, "--output", "json", "secretsmanager", *args]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    if expect_ok:
        assert p.returncode == 0, f"{args[0]} failed ({p.returncode}): {p.stderr}"
        return json.loads(p.stdout) if p.stdout.strip() else {}
    assert p.returncode != 0, f"{args[0]} unexpectedly succeeded: {p.stdout}"
    return p.stderr


name = f"cli/{uuid.uuid4().hex[:8]}"
created = run("create-secret", "--name", name, "--secret-string", '{"username":"u","password":"p0"}',
              "--tags", "Key=team,Value=core")
assert created["Name"] == name and len(created["ARN"].rsplit("-", 1)[1]) == 6, created
got = run("get-secret-value", "--secret-id", name)
assert json.loads(got["SecretString"])["password"] == "p0" and got["VersionStages"] == ["AWSCURRENT"], got
put = run("put-secret-value", "--secret-id", created["ARN"], "--secret-string", '{"username":"u","password":"p1"}')
assert put["VersionStages"] == ["AWSCURRENT"], put
desc = run("describe-secret", "--secret-id", name)
assert desc["VersionIdsToStages"][created["VersionId"]] == ["AWSPREVIOUS"], desc
# CLI v1 prints timestamps as the service sent them (epoch seconds); v2 prints ISO 8601 text.
created = desc["CreatedDate"]
assert (isinstance(created, (int, float)) and abs(created - time.time()) < 10 * 366 * 86400) or \
    (isinstance(created, str) and created[:2] == "20"), created
run("tag-resource", "--secret-id", name, "--tags", "Key=env,Value=dev")
run("untag-resource", "--secret-id", name, "--tag-keys", "team")
assert run("describe-secret", "--secret-id", name)["Tags"] == [{"Key": "env", "Value": "dev"}]
listed = run("list-secrets", "--filters", f"Key=name,Values={name}")
assert [s["Name"] for s in listed["SecretList"]] == [name], listed
rot = run("rotate-secret", "--secret-id", name, "--rotation-lambda-arn", BUILTIN,
          "--rotation-rules", "AutomaticallyAfterDays=10")
value = json.loads(run("get-secret-value", "--secret-id", name)["SecretString"])
assert value["username"] == "u" and value["password"] != "p1", "rotation changed the password"
desc = run("describe-secret", "--secret-id", name)
assert desc["RotationEnabled"] is True and desc["VersionIdsToStages"][rot["VersionId"]] == ["AWSCURRENT"], desc
deleted = run("delete-secret", "--secret-id", name, "--recovery-window-in-days", "7")
assert "DeletionDate" in deleted, deleted
err = run("put-secret-value", "--secret-id", name, "--secret-string", "x", expect_ok=False)
assert "(InvalidRequestException)" in err and "marked for deletion" in err, err
run("restore-secret", "--secret-id", name)
assert "DeletedDate" not in run("describe-secret", "--secret-id", name)
run("delete-secret", "--secret-id", name, "--force-delete-without-recovery")
err = run("describe-secret", "--secret-id", name, expect_ok=False)
expected = ("An error occurred (ResourceNotFoundException) when calling the DescribeSecret operation: "
            "Secrets Manager can't find the specified secret.")
assert expected in err, err
print("aws cli session: ok")
