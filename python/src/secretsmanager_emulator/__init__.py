"""An offline AWS Secrets Manager for Python tests: runs the ``sm-emulator`` binary shipped in this
wheel and drives its admin endpoint (reset, faults, clock).

>>> from secretsmanager_emulator import SecretsManagerEmulator     # doctest: +SKIP
>>> with SecretsManagerEmulator() as emu:
...     emu.client.create_secret(Name="db", SecretString="s3cret")
...     with emu.faults(throttle_rate=0.3):
...         ...
...     emu.clock.advance(days=8)

In pytest, ask for the ``secretsmanager_emulator`` fixture (see ``pytest_plugin``).
"""

from ._binary import BINARY_ENV, BinaryNotFoundError, find_binary
from ._emulator import (
    BUILTIN_ROTATION_FUNCTION,
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    Clock,
    EmulatorError,
    EmulatorStartError,
    Faults,
    FaultScope,
    SecretsManagerEmulator,
)

__all__ = [
    "BINARY_ENV",
    "BUILTIN_ROTATION_FUNCTION",
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_REGION",
    "BinaryNotFoundError",
    "Clock",
    "EmulatorError",
    "EmulatorStartError",
    "FaultScope",
    "Faults",
    "SecretsManagerEmulator",
    "find_binary",
]
