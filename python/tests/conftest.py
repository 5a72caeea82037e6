"""Shared pieces of the example suite: clients without SDK retries (so a test sees each injected
fault as it happened) and the pytester plugin for the scope tests."""

import pytest
from botocore.config import Config

pytest_plugins = ["pytester"]


@pytest.fixture
def no_retry_client(secretsmanager_emulator):
    """A boto3 client of the emulator that makes exactly one attempt per call."""
    return secretsmanager_emulator.make_client(
        config=Config(retries={"mode": "standard", "total_max_attempts": 1})
    )
