"""Real processes for fault injection: a private PostgreSQL cluster and the Fieldline services.

The cluster (pg_createcluster on a free port) and the Mosquitto (its own port, persistence on)
belong to the test alone, so restarting them never disturbs the rest of the suite.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.tracking.brokers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_VERSION = os.environ.get("FIELDLINE_FAULTS_PG_VERSION", "15")


def _run(command: Sequence[str], **kwargs: Any) -> None:
    subprocess.run(command, check=True, capture_output=True, **kwargs)  # noqa: S603


class PrivateCluster:
    """A PostgreSQL cluster of our own (created, started, restarted, dropped by us)."""

    def __init__(self) -> None:
        if shutil.which("pg_createcluster") is None:
            raise RuntimeError("fault injection needs pg_createcluster (postgresql-common)")
        self.name = f"flfaults{uuid.uuid4().hex[:6]}"
        self.port = free_port()
        _run(["pg_createcluster", PG_VERSION, self.name, "--port", str(self.port)])
        conf = Path(f"/etc/postgresql/{PG_VERSION}/{self.name}")
        with (conf / "postgresql.conf").open("a") as handle:
            handle.write("listen_addresses = '127.0.0.1'\nfsync = on\n")
        hba = conf / "pg_hba.conf"
        hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/fieldline"

    def start(self) -> None:
        _run(["pg_ctlcluster", PG_VERSION, self.name, "start"])

    def restart(self) -> None:
        """A fast restart: open transactions are rolled back, connections are cut."""
        _run(["pg_ctlcluster", PG_VERSION, self.name, "restart", "-m", "fast"])

    def create_database(self) -> None:
        admin = create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres",
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE fieldline"))
        admin.dispose()
        engine = create_engine(self.url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        engine.dispose()

    def drop(self) -> None:
        subprocess.run(  # noqa: S603
            ["pg_dropcluster", "--stop", PG_VERSION, self.name], capture_output=True, check=False
        )


class Service:
    """One Fieldline process, started again after a kill -9 with the same command."""

    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        *,
        ready: Callable[[], bool] | None = None,
        limit_file_bytes: int | None = None,
    ) -> None:
        self.name, self.command, self.env = name, command, env
        self.ready = ready
        self.limit_file_bytes = limit_file_bytes
        self.log = Path(tempfile.mkstemp(prefix=f"fieldline-{name}-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def _limits(self) -> None:
        if self.limit_file_bytes is not None:
            # A real kernel limit on file size: writes past it fail with EFBIG (the signal
            # that would kill the process instead is ignored, as a server's would be).
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            limit = self.limit_file_bytes
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    def start(self) -> Service:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own commands
                self.command,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a kill reaches its children too
                preexec_fn=self._limits,  # noqa: PLW1509 - only sets limits before exec
            )
        if self.ready is not None:
            wait_until(self.ready, timeout=60, every=0.1)
        return self

    def kill9(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill9()
            self.process = None

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def fieldline(*args: str) -> list[str]:
    return [str(BIN / "fieldline"), *args]


def gunicorn(port: int) -> list[str]:
    return [
        str(BIN / "gunicorn"),
        "-c",
        str(ROOT / "deploy" / "gunicorn.conf.py"),
        "-w",
        "2",
        "-b",
        f"127.0.0.1:{port}",
        "backend.wsgi:app",
    ]


def wait(seconds: float) -> None:
    time.sleep(seconds)
