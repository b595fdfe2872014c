"""`fieldline vehicles credentials` files work in a stock Mosquitto 2 run as root, as shipped.

Stock Mosquitto started as root drops to user `mosquitto` before it reads the password and
ACL files, so they must be readable by that user. This test runs the real command and the
real broker with deploy/mosquitto/fieldline.conf, changing only the port and the paths.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend import migrate
from backend.config import ROOT
from backend.demo import seed_org
from backend.wiring import open_database
from tests.tracking.brokers import connect, free_port, wait_until
from tests.tracking.test_credentials import check_isolation

SHIPPED_CONF = ROOT / "deploy" / "mosquitto" / "fieldline.conf"

# CI runs as root with Mosquitto installed: there a missing prerequisite fails, never skips.
pytestmark = pytest.mark.skipif(
    not os.environ.get("CI") and (os.geteuid() != 0 or shutil.which("mosquitto") is None),
    reason="needs root (as CI runs) and the mosquitto binary",
)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    """A world-traversable folder, as /etc/mosquitto is (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="fieldline-mosq-files-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def issued(folder: Path) -> dict[str, str]:
    """Run the real command against a fresh database; returns the passwords it printed."""
    url = f"sqlite:///{folder / 'fieldline.db'}"
    migrate.upgrade(url)
    database = open_database(url)
    with database.unit_of_work(actor="seed") as session:
        seed_org(session)
    database.engine.dispose()
    fieldline = Path(sys.executable).with_name("fieldline")
    result = subprocess.run(  # noqa: S603 - our own command
        [str(fieldline), "vehicles", "credentials", "--out", str(folder / "fieldline")],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [line.split() for line in result.stdout.splitlines()]
    return {words[1]: words[2] for words in lines if words and words[0] in ("vehicle", "service")}


def test_files_belong_to_the_mosquitto_user_and_nobody_else_reads_them(
    folder: Path, issued: dict[str, str]
) -> None:
    mosquitto = pwd.getpwnam("mosquitto")
    for name in ("passwd", "acl"):
        info = (folder / "fieldline" / name).stat()
        assert info.st_uid == mosquitto.pw_uid
        assert info.st_mode & 0o777 == 0o600
    assert {"ingest", "T-1001", "T-2001"} <= issued.keys()


def shipped_conf(folder: Path, port: int) -> Path:
    """The shipped config with only the port (loopback) and the file locations changed."""
    persistence = folder / "persistence"
    persistence.mkdir(exist_ok=True)
    shutil.chown(persistence, "mosquitto", "mosquitto")
    changes = {
        "listener 1883": f"listener {port} 127.0.0.1",
        "password_file /etc/mosquitto/fieldline/passwd": (
            f"password_file {folder / 'fieldline' / 'passwd'}"
        ),
        "acl_file /etc/mosquitto/fieldline/acl": f"acl_file {folder / 'fieldline' / 'acl'}",
        "persistence_location /var/lib/mosquitto/": f"persistence_location {persistence}/",
    }
    lines = SHIPPED_CONF.read_text().splitlines()
    for old, new in changes.items():
        assert lines.count(old) == 1, f"the shipped config no longer has {old!r}"
        lines[lines.index(old)] = new
    assert not [line for line in lines if line.startswith("user ")]  # stock: drops to mosquitto
    conf = folder / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


@pytest.fixture
def broker(folder: Path, issued: dict[str, str]) -> Iterator[str]:
    port = free_port()
    conf = shipped_conf(folder, port)
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen(  # noqa: S603 - the test's own broker, started as root
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )

    def ready() -> bool:
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"mosquitto exited {process.returncode}: {stderr}")
        try:
            client = connect(f"mqtt://127.0.0.1:{port}", "probe", "ingest", issued["ingest"])
        except (ConnectionRefusedError, OSError, AssertionError):
            return False
        client.disconnect()
        client.loop_stop()
        return True

    try:
        wait_until(ready, timeout=30, every=0.1)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_stock_mosquitto_as_root_uses_the_files(broker: str, issued: dict[str, str]) -> None:
    with pytest.raises(ConnectionRefusedError):
        connect(broker, username="T-1001", password="wrong")
    with pytest.raises(ConnectionRefusedError):
        connect(broker)  # anonymous
    # A vehicle publishes under its own topic only, and reads only its own orders.
    check_isolation(lambda u, p: connect(broker, username=u, password=p), issued)
