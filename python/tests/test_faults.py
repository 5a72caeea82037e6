"""Injected faults seen through boto3: throttling, 500s and 503s, latency, and the helper's
context manager putting the previous rules back."""

import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from secretsmanager_emulator import EmulatorError


def _error_code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None


def test_a_throttle_rate_throttles_that_share_of_calls(secretsmanager_emulator, no_retry_client):
    emu = secretsmanager_emulator
    emu.client.create_secret(Name="hot", SecretString="v")
    throttled = 0
    with emu.faults(throttle_rate=0.3, operations="GetSecretValue", seed=7):
        for _ in range(200):
            outcome = _error_code(lambda: no_retry_client.get_secret_value(SecretId="hot"))
            if outcome is not None:
                assert outcome == ("ThrottlingException", 400)
                throttled += 1
    assert 30 <= throttled <= 90, throttled
    stats = emu.stats()
    assert stats["throttled"] == throttled
    assert stats["calls"]["GetSecretValue"] == 200
    # the rule is gone after the with block
    no_retry_client.get_secret_value(SecretId="hot")


def test_sdk_retries_absorb_occasional_throttling(secretsmanager_emulator):
    emu = secretsmanager_emulator
    client = emu.make_client(config=Config(retries={"mode": "standard", "max_attempts": 10}))
    client.create_secret(Name="retried", SecretString="v")
    emu.faults(throttle_rate=0.3, operations="GetSecretValue", seed=3)
    for _ in range(10):
        assert client.get_secret_value(SecretId="retried")["SecretString"] == "v"
    stats = emu.stats()
    assert stats["throttled"] > 0, "no call was throttled: the retries were not exercised"
    assert stats["calls"]["GetSecretValue"] == 10 + stats["throttled"]


def test_error_and_unavailable_rates(secretsmanager_emulator, no_retry_client):
    emu = secretsmanager_emulator
    emu.client.create_secret(Name="flaky", SecretString="v")
    get = lambda: no_retry_client.get_secret_value(SecretId="flaky")  # noqa: E731
    with emu.faults(error_rate=1.0):
        assert _error_code(get) == ("InternalServiceError", 500)
    with emu.faults(unavailable_rate=1.0):
        assert _error_code(get) == ("ServiceUnavailable", 503)
    assert _error_code(get) is None
    assert emu.stats()["injected_errors"] == 2


def test_faults_context_managers_nest_and_restore(secretsmanager_emulator):
    emu = secretsmanager_emulator
    outer = emu.faults(latency_ms=5)
    with emu.faults(error_rate=0.5, seed=1) as inner:
        assert inner.applied == {
            "seed": 1,
            "rules": [
                {
                    "operations": [],
                    "rate_limit": None,
                    "burst": None,
                    "throttle_rate": None,
                    "error_rate": 0.5,
                    "unavailable_rate": None,
                    "latency_ms": None,
                }
            ],
        }
        assert emu.faults.current() == inner.applied
    assert emu.faults.current() == outer.applied
    outer.restore()
    assert emu.faults.current()["rules"] == []


def test_latency_delays_every_answer(secretsmanager_emulator):
    emu = secretsmanager_emulator
    emu.client.list_secrets()  # connection set up outside the measurement
    with emu.faults(latency_ms=300):
        started = time.monotonic()
        emu.client.list_secrets()
        assert time.monotonic() - started >= 0.3


def test_an_invalid_rule_is_refused_with_the_reason(secretsmanager_emulator):
    with pytest.raises(EmulatorError, match=r"rules\[0\]\.throttle_rate must be between 0 and 1"):
        secretsmanager_emulator.faults(throttle_rate=2)
    assert secretsmanager_emulator.faults.current()["rules"] == []


def test_aws_quotas_install_rate_limits_and_restore(secretsmanager_emulator):
    emu = secretsmanager_emulator
    with emu.faults.aws_quotas() as quotas:
        limits = {
            op: rule["rate_limit"] for rule in quotas.applied["rules"] for op in rule["operations"]
        }
        assert limits["GetSecretValue"] == 10_000
        assert limits["CreateSecret"] == 50
        assert emu.faults.current() == quotas.applied
    assert emu.faults.current()["rules"] == []
