"""The fixture's process scope, run in a separate pytest (pytester): one process per session by
default, one per test with --sm-emulator-scope=function; fresh state per test in both."""

import pytest

INNER_TESTS = """
import os

PIDS_FILE = os.environ["PIDS_FILE"]


def _record(emu):
    with open(PIDS_FILE, "a") as f:
        f.write(f"{emu.pid}\\n")


def test_one(secretsmanager_emulator):
    _record(secretsmanager_emulator)
    assert secretsmanager_emulator.client.list_secrets()["SecretList"] == []
    secretsmanager_emulator.client.create_secret(Name="x", SecretString="1")


def test_two(secretsmanager_emulator):
    _record(secretsmanager_emulator)
    assert secretsmanager_emulator.client.list_secrets()["SecretList"] == []
    secretsmanager_emulator.client.create_secret(Name="x", SecretString="2")
"""


@pytest.mark.parametrize(
    "args, ini, processes",
    [
        ([], None, 1),
        (["--sm-emulator-scope=function"], None, 2),
        ([], "function", 2),
        (["--sm-emulator-scope=session"], "function", 1),
    ],
)
def test_scope_option(pytester, monkeypatch, args, ini, processes):
    pids_file = pytester.path / "pids.txt"
    monkeypatch.setenv("PIDS_FILE", str(pids_file))
    pytester.makepyfile(test_inner=INNER_TESTS)
    if ini:
        pytester.makeini(f"[pytest]\nsecretsmanager_emulator_scope = {ini}\n")
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=2)
    pids = pids_file.read_text().split()
    assert len(pids) == 2
    assert len(set(pids)) == processes


def test_a_bad_scope_in_the_ini_file_is_a_usage_error(pytester):
    pytester.makepyfile(test_inner="def test_x(secretsmanager_emulator):\n    pass\n")
    pytester.makeini("[pytest]\nsecretsmanager_emulator_scope = module\n")
    result = pytester.runpytest_subprocess()
    assert result.ret != 0
    result.stderr.fnmatch_lines(
        ["*secretsmanager_emulator_scope must be one of session, function*"]
    )


ENV_TESTS = """
import os


def test_env(secretsmanager_emulator):
    endpoint = os.environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER")
    assert endpoint == (secretsmanager_emulator.endpoint_url if EXPECT_ENV else None)
"""


@pytest.mark.parametrize("ini, expect_env", [(None, True), ("false", False), ("true", True)])
def test_the_environment_option(pytester, monkeypatch, ini, expect_env):
    monkeypatch.delenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", raising=False)
    pytester.makepyfile(test_inner=f"EXPECT_ENV = {expect_env}\n" + ENV_TESTS)
    if ini:
        pytester.makeini(f"[pytest]\nsecretsmanager_emulator_env = {ini}\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
