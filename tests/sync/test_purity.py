"""The sync core stays pure: standard library only, no web, ORM or backend imports."""

import ast
import sys
from pathlib import Path

import pytest

SYNC = Path(__file__).resolve().parents[2] / "sync"

# Modules that persist or serve; they may use Flask and SQLAlchemy (schemas, fields: marshmallow).
IMPURE = (
    "store", "http.py", "schemas.py", "fields.py", "changes.py", "columns.py", "blobs", "client",
)  # fmt: skip
BANNED = {"flask", "sqlalchemy", "geoalchemy2", "backend", "werkzeug"}
IMPURE_MODULES = {"store", "http", "schemas", "fields", "changes", "columns", "client"}


def _is_impure(path: Path) -> bool:
    first = path.relative_to(SYNC).parts[0]
    return first in IMPURE or first.startswith("blobs")


PURE_MODULES = sorted(p for p in SYNC.rglob("*.py") if not _is_impure(p))


def _imports(path: Path) -> list[tuple[int, str]]:
    """Return (line, dotted name) of every import; relative ones as `sync.<name>`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names = [node.module] if node.module else [a.name for a in node.names]
                found += [(node.lineno, f"sync.{name}") for name in names]
            else:
                found.append((node.lineno, node.module or ""))
    return found


def test_the_pure_core_is_checked():
    names = {p.name for p in PURE_MODULES}
    assert {"__init__.py", "protocol.py", "entities.py", "merge.py"} <= names


def _violations(path: Path) -> list[str]:
    problems = []
    for line, name in _imports(path):
        top, _, rest = name.partition(".")
        if top in BANNED:
            problems.append(f"line {line}: {name} is banned from the pure sync core")
        elif top == "sync":
            sub = rest.split(".")[0]
            if sub in IMPURE_MODULES or sub.startswith("blobs"):
                problems.append(f"line {line}: {name} persists or serves; pure code can't use it")
        elif top not in sys.stdlib_module_names:
            problems.append(f"line {line}: {name} is not in the standard library")
    return problems


@pytest.mark.parametrize("path", PURE_MODULES, ids=lambda p: str(p.relative_to(SYNC.parent)))
def test_pure_module_imports_only_stdlib_and_pure_sync(path):
    problems = _violations(path)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_the_checker_catches_impure_imports(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text(
        "import flask\n"
        "from sqlalchemy.orm import Session\n"
        "from . import store\n"
        "from .blobs import put\n"
        "import numpy\n"
        "import json\n"
        "from sync.protocol import Op\n"
    )
    assert [p.split(":")[0] for p in _violations(module)] == [
        "line 1",
        "line 2",
        "line 3",
        "line 4",
        "line 5",
    ]
