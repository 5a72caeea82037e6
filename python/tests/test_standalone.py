"""The package outside pytest's fixture: the context manager, the installed command, persistence
in a data directory, and the errors of a bad start."""

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import urllib.error
import urllib.request

import pytest

import secretsmanager_emulator
from secretsmanager_emulator import (
    BinaryNotFoundError,
    EmulatorStartError,
    SecretsManagerEmulator,
    find_binary,
)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive either
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_the_wheel_installs_the_sm_emulator_command_beside_the_interpreter():
    # the suite runs against the installed wheel, not the source tree
    assert secretsmanager_emulator.__file__.startswith(sysconfig.get_path("purelib"))
    binary = find_binary()
    assert os.path.dirname(binary) == sysconfig.get_path("scripts")
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("sm-emulator ")
    assert shutil.which("sm-emulator") in (None, binary) or os.path.samefile(
        shutil.which("sm-emulator"), binary
    )


def test_context_manager_starts_on_a_free_port_and_stops_the_process():
    with SecretsManagerEmulator(region="eu-west-1") as emu:
        pid = emu.pid
        assert _alive(pid)
        assert emu.endpoint_url.startswith("http://127.0.0.1:")
        assert not emu.endpoint_url.endswith(":0")
        created = emu.client.create_secret(Name="cm", SecretString="v")
        assert ":eu-west-1:" in created["ARN"]
        endpoint = emu.endpoint_url
    assert not _alive(pid)
    with pytest.raises(OSError):
        urllib.request.urlopen(endpoint + "/_emulator/health", timeout=2)


def test_two_emulators_run_side_by_side_with_separate_state():
    with SecretsManagerEmulator() as a, SecretsManagerEmulator() as b:
        assert a.endpoint_url != b.endpoint_url
        a.client.create_secret(Name="only-in-a", SecretString="v")
        assert b.client.list_secrets()["SecretList"] == []


def test_a_data_dir_keeps_secrets_across_restarts(tmp_path):
    data = tmp_path / "sm-data"
    with SecretsManagerEmulator(data_dir=data) as emu:
        emu.client.create_secret(Name="kept", SecretString="durable")
    with SecretsManagerEmulator(data_dir=data) as emu:
        assert emu.client.get_secret_value(SecretId="kept")["SecretString"] == "durable"


def test_patch_environ_points_boto3_at_the_emulator_and_restores_the_environment(monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_PROFILE", "some-profile-that-does-not-exist")
    monkeypatch.delenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", raising=False)
    with SecretsManagerEmulator() as emu:
        with emu.patch_environ() as values:
            emu.client.create_secret(Name="env", SecretString="v")
            assert "AWS_PROFILE" not in os.environ
            monkeypatch.setenv("SET_BY_THE_CODE_UNDER_TEST", "kept")
            assert values["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == emu.endpoint_url
            assert (
                boto3.client("secretsmanager").get_secret_value(SecretId="env")["SecretString"]
                == "v"
            )
    assert os.environ["AWS_PROFILE"] == "some-profile-that-does-not-exist"
    assert "AWS_ENDPOINT_URL_SECRETS_MANAGER" not in os.environ
    assert os.environ["SET_BY_THE_CODE_UNDER_TEST"] == "kept"


def test_a_bad_flag_fails_the_start_with_the_emulators_message():
    emu = SecretsManagerEmulator(args=["--no-such-flag"])
    with pytest.raises(EmulatorStartError, match="exited with status 2") as info:
        emu.start()
    assert "--no-such-flag" in str(info.value)
    assert not emu.running


def test_an_occupied_port_fails_the_start_naming_the_address():
    with SecretsManagerEmulator() as first:
        port = int(first.endpoint_url.rsplit(":", 1)[1])
        with pytest.raises(EmulatorStartError, match=f"127.0.0.1:{port}"):
            SecretsManagerEmulator(port=port).start()


def test_the_binary_override_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("SM_EMULATOR_BIN", str(tmp_path / "missing"))
    with pytest.raises(BinaryNotFoundError, match="SM_EMULATOR_BIN"):
        SecretsManagerEmulator().start()


def test_an_emulator_left_running_is_stopped_when_python_exits():
    script = textwrap.dedent(
        """
        from secretsmanager_emulator import SecretsManagerEmulator
        emu = SecretsManagerEmulator().start()
        print(emu.pid, flush=True)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    pid = int(out.stdout.strip())
    # the child Python has exited; its emulator must not outlive it (it is not our child: no zombie)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    pytest.fail(f"sm-emulator {pid} still runs after the Python process that started it exited")


def test_a_binary_that_cannot_run_fails_the_start_naming_it(monkeypatch, tmp_path):
    fake = tmp_path / "sm-emulator"
    fake.write_bytes(b"\x00not a program\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SM_EMULATOR_BIN", str(fake))
    with pytest.raises(EmulatorStartError, match=f"cannot run {fake}"):
        SecretsManagerEmulator().start()


def test_admin_calls_keep_working_when_the_emulator_verifies_credentials():
    # --credentials makes the emulator refuse unauthenticated admin calls; the package starts it
    # with an admin token of its own and sends it with every admin call.
    with SecretsManagerEmulator(args=["--credentials", "AKIDPYTEST:py-test-secret"]) as emu:
        emu.clock.advance(days=1)
        emu.reset()
        req = urllib.request.Request(emu.endpoint_url + "/_emulator/reset", data=b"", method="POST")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(req, timeout=10)
        assert refused.value.code == 403
