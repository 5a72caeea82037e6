"""One ``sm-emulator`` process: starting it on a free port, stopping it, and its admin endpoint
(``/_emulator/*``: reset, faults, clock, stats, rotation) as Python calls."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, Mapping, Optional, Sequence, Union

from ._binary import find_binary

#: The account the emulator uses when the access key id is not a 12-digit account id.
DEFAULT_ACCOUNT_ID = "123456789012"
#: The region of the ready-made client and of the environment the fixture sets.
DEFAULT_REGION = "us-east-1"
#: The dummy credentials of the ready-made client (any well-formed SigV4 request is accepted
#: unless the emulator was started with ``--credentials``).
DUMMY_ACCESS_KEY_ID = "testing"
DUMMY_SECRET_ACCESS_KEY = "testing"
#: The Lambda function name the emulator runs itself (createSecret puts a random password).
BUILTIN_ROTATION_FUNCTION = "emulator-builtin-rotation"

_LISTENING = re.compile(r"listening on (http://\S+)")
_FAULT_RULE_FIELDS = (
    "rate_limit",
    "burst",
    "throttle_rate",
    "error_rate",
    "unavailable_rate",
    "latency_ms",
)


class EmulatorError(RuntimeError):
    """An admin request was refused; the message carries the emulator's reason."""

    def __init__(self, method: str, path: str, status: int, reason: str) -> None:
        super().__init__(f"{method} {path} answered {status}: {reason}")
        self.status = status
        self.reason = reason


class EmulatorStartError(RuntimeError):
    """The emulator process did not come up (the message has its exit status and last log lines)."""


class FaultScope:
    """Fault settings that were applied; as a context manager it puts the previous ones back."""

    def __init__(self, faults: "Faults", applied: Dict[str, Any], previous: Dict[str, Any]) -> None:
        self._faults = faults
        #: The settings now in force, as the emulator answered them.
        self.applied = applied
        #: The settings in force before, restored by :meth:`restore` or on leaving ``with``.
        self.previous = previous

    def restore(self) -> None:
        """Puts the previous fault settings back."""
        self._faults._replace(self.previous)

    def __enter__(self) -> "FaultScope":
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def __repr__(self) -> str:
        return f"FaultScope(applied={self.applied!r})"


class Faults:
    """Fault injection (``/_emulator/faults``). Calling it replaces the rules with one rule:

    >>> emu.faults(throttle_rate=0.3)                     # doctest: +SKIP
    >>> with emu.faults(error_rate=1.0, operations=["GetSecretValue"]):   # doctest: +SKIP
    ...     ...                                           # previous faults are back afterwards
    """

    def __init__(self, emulator: "SecretsManagerEmulator") -> None:
        self._emu = emulator

    def __call__(
        self,
        *,
        operations: Union[str, Sequence[str], None] = None,
        rate_limit: Optional[float] = None,
        burst: Optional[float] = None,
        throttle_rate: Optional[float] = None,
        error_rate: Optional[float] = None,
        unavailable_rate: Optional[float] = None,
        latency_ms: Optional[int] = None,
        seed: Optional[int] = None,
    ) -> FaultScope:
        """Replaces the fault rules with one rule for ``operations`` (all when omitted).

        ``throttle_rate``, ``error_rate`` and ``unavailable_rate`` are probabilities (0..1) of a
        ThrottlingException, an InternalServiceError (500) and a ServiceUnavailable (503);
        ``rate_limit`` (with ``burst``) throttles beyond that many requests per second;
        ``latency_ms`` delays every answer; ``seed`` makes the random decisions repeatable.
        """
        rule: Dict[str, Any] = {}
        values = dict(
            rate_limit=rate_limit,
            burst=burst,
            throttle_rate=throttle_rate,
            error_rate=error_rate,
            unavailable_rate=unavailable_rate,
            latency_ms=latency_ms,
        )
        for name in _FAULT_RULE_FIELDS:
            if values[name] is not None:
                rule[name] = values[name]
        if operations is not None:
            rule["operations"] = [operations] if isinstance(operations, str) else list(operations)
        return self.set([rule] if rule else [], seed=seed)

    def set(self, rules: Iterable[Mapping[str, Any]], seed: Optional[int] = None) -> FaultScope:
        """Replaces the fault rules with ``rules`` (dicts with the fields of ``__call__``)."""
        settings: Dict[str, Any] = {"rules": [dict(r) for r in rules]}
        if seed is not None:
            settings["seed"] = seed
        return self._apply(settings)

    def aws_quotas(self) -> FaultScope:
        """Installs AWS's documented request quotas as rate limits."""
        previous = self.current()
        applied = self._emu._admin("POST", "/_emulator/faults/aws-quotas")
        return FaultScope(self, applied, previous)

    def clear(self) -> FaultScope:
        """Removes every fault rule."""
        return self._apply({})

    def current(self) -> Dict[str, Any]:
        """The fault settings in force."""
        return self._emu._admin("GET", "/_emulator/faults")

    def _apply(self, settings: Dict[str, Any]) -> FaultScope:
        previous = self.current()
        applied = self._replace(settings)
        return FaultScope(self, applied, previous)

    def _replace(self, settings: Mapping[str, Any]) -> Dict[str, Any]:
        return self._emu._admin("POST", "/_emulator/faults", dict(settings))


class Clock:
    """The emulator's clock (``/_emulator/clock``): the system time plus an offset that only moves
    forward, until :meth:`SecretsManagerEmulator.reset` puts it back to the system time."""

    def __init__(self, emulator: "SecretsManagerEmulator") -> None:
        self._emu = emulator

    def advance(
        self,
        delta: Optional[_dt.timedelta] = None,
        *,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
    ) -> _dt.datetime:
        """Moves the clock forward (recovery windows end, versions age, rotations fall due) and
        returns the emulator's new time."""
        step = _dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if delta is not None:
            step += delta
        if step < _dt.timedelta(0):
            raise ValueError(f"the emulator clock only moves forward; got {step}")
        answer = self._emu._admin(
            "POST", "/_emulator/clock/advance", {"seconds": step.total_seconds()}
        )
        return _from_epoch(answer["now"])

    def now(self) -> _dt.datetime:
        """The emulator's current time (UTC)."""
        return _from_epoch(self._emu._admin("GET", "/_emulator/clock")["now"])

    @property
    def offset(self) -> _dt.timedelta:
        """How far the emulator's clock is ahead of the system clock."""
        answer = self._emu._admin("GET", "/_emulator/clock")
        return _dt.timedelta(seconds=answer["offset_seconds"])


def _stop_process(proc: subprocess.Popen, timeout: float) -> None:
    """SIGINT (the emulator's Ctrl-C shutdown), then a kill if it still runs after ``timeout``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if os.name == "nt":
                proc.terminate()
            else:
                proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _from_epoch(seconds: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(seconds, tz=_dt.timezone.utc)


class SecretsManagerEmulator:
    """An ``sm-emulator`` process on a free loopback port.

    >>> with SecretsManagerEmulator() as emu:            # doctest: +SKIP
    ...     emu.client.create_secret(Name="db", SecretString="s3cret")
    ...     emu.clock.advance(days=8)

    ``data_dir`` keeps the secrets on disk (default: in memory); ``strict_rotation`` (default on,
    as in AWS) makes RotateSecret fail when no rotation function is usable, and off gives moto's
    promotion of a copy of the current value; ``args`` are further
    ``sm-emulator`` flags; ``binary`` (or ``$SM_EMULATOR_BIN``) overrides the installed executable.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = DEFAULT_REGION,
        data_dir: Union[str, "os.PathLike[str]", None] = None,
        account_id: Optional[str] = None,
        strict_rotation: bool = True,
        args: Sequence[str] = (),
        binary: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        startup_timeout: float = 30.0,
        log_path: Union[str, "os.PathLike[str]", None] = None,
    ) -> None:
        self.host = host
        self.port = port
        self.region = region
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.account_id = account_id or DEFAULT_ACCOUNT_ID
        self.strict_rotation = strict_rotation
        self.args = list(args)
        self.binary = binary
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self._log_path = None if log_path is None else Path(log_path)
        self._log_dir: Optional[str] = None
        self._log_file: Any = None
        self._proc: Optional[subprocess.Popen] = None
        self._reader: Optional[threading.Thread] = None
        self._finalizer: Optional[weakref.finalize] = None
        self._endpoint: Optional[str] = None
        self._client: Any = None
        self._baseline_faults: Dict[str, Any] = {}
        self._baseline_hooks: Dict[str, str] = {}
        #: The admin token sent with admin calls: the caller's ``SM_EMULATOR_ADMIN_TOKEN``, or a fresh
        #: one when ``args`` turn on SigV4 verification (``--credentials``), whose emulator refuses
        #: unauthenticated admin calls.
        self._admin_token: Optional[str] = self.env.get("SM_EMULATOR_ADMIN_TOKEN")
        if self._admin_token is None and any(
            a == "--credentials" or a.startswith("--credentials=") for a in self.args
        ):
            self._admin_token = secrets.token_urlsafe(24)
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        #: Fault injection: ``emu.faults(throttle_rate=0.3)``.
        self.faults = Faults(self)
        #: The emulator's clock: ``emu.clock.advance(days=8)``.
        self.clock = Clock(self)

    # -- process ---------------------------------------------------------------------------------

    def start(self) -> "SecretsManagerEmulator":
        """Starts the process and waits until it answers its health check."""
        if self._proc is not None:
            raise RuntimeError("this emulator is already started")
        binary = find_binary(self.binary)
        if self._log_path is None:
            self._log_dir = tempfile.mkdtemp(prefix="sm-emulator-")
            self._log_path = Path(self._log_dir) / "sm-emulator.log"
        self._log_file = open(self._log_path, "ab", buffering=0)
        cmd = [binary, "--listen", f"{self.host}:{self.port}"]
        if self.data_dir is not None:
            cmd += ["--data-dir", str(self.data_dir)]
        else:
            cmd += ["--in-memory"]
        cmd += ["--account-id", self.account_id]
        # the wrapper's documented default is moto-compatible rotation; the binary's is AWS's
        cmd.append("--strict-rotation" if self.strict_rotation else "--moto-rotation")
        cmd += self.args
        env = dict(os.environ)
        env.update(self.env)
        if self._admin_token is not None:
            env["SM_EMULATOR_ADMIN_TOKEN"] = self._admin_token
        else:
            env.pop("SM_EMULATOR_ADMIN_TOKEN", None)
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._log_file,
                env=env,
            )
        except OSError as e:
            self.stop()
            raise EmulatorStartError(f"cannot run {binary}: {e}") from e
        found = threading.Event()
        # Stops the process when the interpreter exits without stop().
        self._finalizer = weakref.finalize(self, _stop_process, self._proc, 5.0)
        self._reader = threading.Thread(
            target=self._read_stdout, args=(self._proc, found), daemon=True
        )
        self._reader.start()
        try:
            if not found.wait(self.startup_timeout) or self._endpoint is None:
                try:
                    # stdout closed without an address: the process is exiting
                    status = self._proc.wait(timeout=5 if found.is_set() else 0)
                except subprocess.TimeoutExpired:
                    status = None
                why = (
                    f"exited with status {status}"
                    if status is not None
                    else f"did not report its address within {self.startup_timeout:g} s"
                )
                raise EmulatorStartError(
                    f"sm-emulator ({' '.join(cmd)}) {why}; its log ({self._log_path}) ends with:\n"
                    + self.log_tail()
                )
            self._admin("GET", "/_emulator/health")
            self._baseline_faults = self.faults.current()
            self._baseline_hooks = self.rotation_hooks()
        except BaseException:
            self.stop()
            raise
        return self

    def _read_stdout(self, proc: subprocess.Popen, found: threading.Event) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            if self._endpoint is None:
                m = _LISTENING.search(raw.decode("utf-8", "replace"))
                if m:
                    self._endpoint = m.group(1).rstrip("/")
                    found.set()
            log = self._log_file
            if log is not None and not log.closed:
                with contextlib.suppress(ValueError, OSError):
                    log.write(raw)
        found.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the process: SIGINT (as Ctrl-C), then a kill if it still runs after ``timeout``."""
        proc, self._proc = self._proc, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if proc is not None:
            _stop_process(proc, timeout)
            if self._reader is not None:
                self._reader.join(timeout)
            if proc.stdout is not None:
                proc.stdout.close()
        self._reader = None
        self._endpoint = None
        self._client = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None
            self._log_path = None

    @property
    def running(self) -> bool:
        """Whether the process is started and has not exited."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> Optional[int]:
        """The process id, while started."""
        return None if self._proc is None else self._proc.pid

    @property
    def log_path(self) -> Optional[Path]:
        """The file receiving the emulator's log (stderr); removed on :meth:`stop` unless given."""
        return self._log_path

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the emulator's log."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        text = self._log_path.read_text("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> "SecretsManagerEmulator":
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self._endpoint or "not started"
        return f"SecretsManagerEmulator({where})"

    # -- addresses and SDK clients ---------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``, the endpoint to give an AWS SDK."""
        if self._endpoint is None:
            raise RuntimeError("the emulator is not started")
        return self._endpoint

    def client_kwargs(self) -> Dict[str, str]:
        """Keyword arguments for ``boto3.client("secretsmanager", **kwargs)``."""
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": DUMMY_ACCESS_KEY_ID,
            "aws_secret_access_key": DUMMY_SECRET_ACCESS_KEY,
        }

    def make_client(self, **overrides: Any) -> Any:
        """A new boto3 Secrets Manager client for this emulator (``overrides`` replace or add
        ``boto3.client`` arguments, e.g. ``region_name`` or ``config``)."""
        try:
            import boto3
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "secretsmanager_emulator's .client needs boto3: pip install boto3"
            ) from e
        kwargs: Dict[str, Any] = dict(self.client_kwargs())
        kwargs.update(overrides)
        return boto3.session.Session().client("secretsmanager", **kwargs)

    @property
    def client(self) -> Any:
        """A ready boto3 Secrets Manager client (created on first use, then reused)."""
        if self._client is None:
            self._client = self.make_client()
        return self._client

    def environ(self) -> Dict[str, str]:
        """Environment variables that point AWS SDKs (boto3, the AWS CLI, others) at this
        emulator with dummy credentials: what ``patch_environ`` sets."""
        return {
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    @contextlib.contextmanager
    def patch_environ(self) -> Iterator[Dict[str, str]]:
        """Sets :meth:`environ` (and unsets ``AWS_PROFILE`` and session tokens) for the ``with``
        block: code that builds its own ``boto3.client("secretsmanager")`` reaches the emulator."""
        values = self.environ()
        unset = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
        saved = {name: os.environ.get(name) for name in (*values, *unset)}
        try:
            for name in unset:
                os.environ.pop(name, None)
            os.environ.update(values)
            yield values
        finally:
            # only the variables set or unset here go back to what they were
            for name, old in saved.items():
                if old is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = old

    def builtin_rotation_arn(self, region: Optional[str] = None) -> str:
        """The Lambda ARN of the rotation function the emulator runs itself (it puts a new random
        password: in the ``password`` field of a JSON value, else as the whole value)."""
        return (
            f"arn:aws:lambda:{region or self.region}:{self.account_id}:"
            f"function:{BUILTIN_ROTATION_FUNCTION}"
        )

    # -- admin endpoint --------------------------------------------------------------------------

    def reset(self) -> None:
        """Fresh state: every secret (all accounts and regions) and the call counters are wiped,
        the clock is back at the system time, and the fault rules, rotation hooks and strict mode
        are those the emulator started with."""
        self._admin("POST", "/_emulator/reset")
        self.faults._replace(self._baseline_faults)
        self._admin("POST", "/_emulator/rotation/strict", {"strict": self.strict_rotation})
        hooks = self.rotation_hooks()
        changes: Dict[str, Optional[str]] = {
            arn: None for arn in hooks if arn not in self._baseline_hooks
        }
        for arn, url in self._baseline_hooks.items():
            if hooks.get(arn) != url:
                changes[arn] = url
        if changes:
            self._admin("POST", "/_emulator/rotation/hooks", changes)

    def stats(self) -> Dict[str, Any]:
        """Call counts per operation and the throttled and injected-error totals since the last
        reset: ``{"calls": {...}, "total": n, "throttled": n, "injected_errors": n}``."""
        return self._admin("GET", "/_emulator/stats")

    def reset_stats(self) -> None:
        """Zeroes the call counters."""
        self._admin("POST", "/_emulator/stats/reset")

    def rotation_hooks(self) -> Dict[str, str]:
        """The rotation Lambda ARNs mapped to local HTTP endpoints."""
        return self._admin("GET", "/_emulator/rotation/hooks")

    def set_rotation_hooks(self, hooks: Mapping[str, Optional[str]]) -> Dict[str, str]:
        """Maps rotation Lambda ARNs to local HTTP endpoints receiving the four rotation steps
        (``None`` unmaps one); returns every mapping in force."""
        return self._admin("POST", "/_emulator/rotation/hooks", dict(hooks))

    def set_strict_rotation(self, strict: bool) -> None:
        """Strict AWS rotation (RotateSecret without a usable function fails; the default) on, or
        off for moto's promotion of a copy of the current value."""
        self._admin("POST", "/_emulator/rotation/strict", {"strict": bool(strict)})

    def run_due_rotations(self) -> int:
        """Runs every scheduled rotation due on the emulator's clock; returns how many started."""
        return int(self._admin("POST", "/_emulator/rotation/run-due")["started"])

    def _admin(self, method: str, path: str, body: Optional[Mapping[str, Any]] = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.endpoint_url + path, data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        if self._admin_token is not None:
            req.add_header("x-emulator-admin-token", self._admin_token)
        try:
            with self._opener.open(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                answer = json.loads(raw)
                reason = answer.get("error") or answer.get("Message") or raw.decode("utf-8", "replace")
            except (ValueError, AttributeError):
                reason = raw.decode("utf-8", "replace")
            raise EmulatorError(method, path, e.code, reason) from None
