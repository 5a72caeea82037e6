"""The pytest plugin (entry point ``pytest11``): the ``secretsmanager_emulator`` fixture and its
options.

- ``secretsmanager_emulator``: a started :class:`SecretsManagerEmulator` with fresh state for each
  test (reset through the admin endpoint before the test), the AWS environment variables pointing
  at it for the test's duration, ``.endpoint_url`` and a ready boto3 ``.client``.
- Scope of the process: one per session (default) or one per test, chosen with
  ``--sm-emulator-scope=function`` or the ini option ``secretsmanager_emulator_scope``.
- ``secretsmanager_emulator_options``: keyword arguments for :class:`SecretsManagerEmulator`;
  override it in a ``conftest.py`` (e.g. ``{"strict_rotation": False}``).
"""

from __future__ import annotations

from typing import Any, Dict, Iterator

import pytest

from ._binary import BinaryNotFoundError, find_binary
from ._emulator import SecretsManagerEmulator

_SCOPES = ("session", "function")
_SCOPE_INI = "secretsmanager_emulator_scope"
_ENV_INI = "secretsmanager_emulator_env"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("secretsmanager_emulator", "AWS Secrets Manager emulator")
    group.addoption(
        "--sm-emulator-scope",
        dest="sm_emulator_scope",
        choices=_SCOPES,
        default=None,
        help="one emulator process per test session (default) or per test; "
        "state is reset before every test either way",
    )
    parser.addini(
        _SCOPE_INI,
        default="session",
        help="scope of the sm-emulator process: session (default) or function",
    )
    parser.addini(
        _ENV_INI,
        type="bool",
        default=True,
        help="set AWS_ENDPOINT_URL_SECRETS_MANAGER, dummy credentials and the region during "
        "tests using the secretsmanager_emulator fixture (default true)",
    )


def _configured_scope(config: pytest.Config) -> str:
    return config.getoption("sm_emulator_scope") or config.getini(_SCOPE_INI)


def pytest_configure(config: pytest.Config) -> None:
    scope = _configured_scope(config)
    if scope not in _SCOPES:
        raise pytest.UsageError(f"{_SCOPE_INI} must be one of {', '.join(_SCOPES)}, got {scope!r}")


def _process_scope(fixture_name: str, config: pytest.Config) -> str:
    return _configured_scope(config)


def pytest_report_header(config: pytest.Config) -> str:
    try:
        binary = find_binary()
    except BinaryNotFoundError as e:
        binary = f"not found ({e})"
    return f"secretsmanager-emulator: {binary}, process scope {_configured_scope(config)}"


@pytest.fixture(scope="session")
def secretsmanager_emulator_options() -> Dict[str, Any]:
    """Keyword arguments for the fixture's :class:`SecretsManagerEmulator` (override to change)."""
    return {}


@pytest.fixture(scope=_process_scope)
def secretsmanager_emulator_process(
    secretsmanager_emulator_options: Dict[str, Any],
) -> Iterator[SecretsManagerEmulator]:
    """The emulator process, shared by the session or started per test (see the scope option)."""
    with SecretsManagerEmulator(**secretsmanager_emulator_options) as emu:
        yield emu


@pytest.fixture
def secretsmanager_emulator(
    secretsmanager_emulator_process: SecretsManagerEmulator, request: pytest.FixtureRequest
) -> Iterator[SecretsManagerEmulator]:
    """An emulator with fresh state for this test: no secrets, clock at the system time, the fault
    rules and rotation settings it started with; AWS SDK environment variables point at it."""
    emu = secretsmanager_emulator_process
    if not emu.running:
        raise RuntimeError(
            f"the sm-emulator process is no longer running; its log ends with:\n{emu.log_tail()}"
        )
    emu.reset()
    if request.config.getini(_ENV_INI):
        with emu.patch_environ():
            yield emu
    else:
        yield emu
