"""Locating the ``sm-emulator`` executable that the wheel installs beside this package."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Iterator, Optional

#: Environment variable naming the executable to run instead of the installed one.
BINARY_ENV = "SM_EMULATOR_BIN"

BINARY_NAME = "sm-emulator.exe" if os.name == "nt" else "sm-emulator"


class BinaryNotFoundError(FileNotFoundError):
    """No ``sm-emulator`` executable could be found (the message lists where it was looked for)."""


def _candidate_dirs() -> Iterator[Path]:
    # The wheel's scripts land in the scripts directory of the scheme pip installed into: the
    # running interpreter's (a venv's bin/), or the user scheme for `pip install --user`.
    seen = set()
    schemes = [None]
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        schemes.append(user_scheme)
    for scheme in schemes:
        try:
            path = (
                sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
            )
        except KeyError:
            continue
        if path and path not in seen:
            seen.add(path)
            yield Path(path)
    exe_dir = str(Path(sys.executable).parent)
    if exe_dir not in seen:
        yield Path(exe_dir)


def find_binary(explicit: Optional[str] = None) -> str:
    """The path of the ``sm-emulator`` executable to run.

    Order: ``explicit``, then ``$SM_EMULATOR_BIN``, then the scripts directory of this interpreter
    (where ``pip install`` put it), then ``PATH``.
    """
    for source, value in (("argument", explicit), (BINARY_ENV, os.environ.get(BINARY_ENV))):
        if value:
            path = Path(value)
            if not path.is_file() or not os.access(path, os.X_OK):
                raise BinaryNotFoundError(
                    f"the sm-emulator executable given by {source} ({value}) "
                    "does not exist or is not executable"
                )
            return str(path)
    looked = []
    for d in _candidate_dirs():
        path = d / BINARY_NAME
        looked.append(str(d))
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    on_path = shutil.which(BINARY_NAME)
    if on_path:
        return on_path
    raise BinaryNotFoundError(
        f"{BINARY_NAME} was not found in {', '.join(looked)} nor on PATH; install the "
        f"secretsmanager-emulator wheel into this environment or set {BINARY_ENV}"
    )
