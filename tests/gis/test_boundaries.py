"""The gis package stands alone: it never imports backend."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GIS = Path(__file__).resolve().parents[2] / "gis"


@pytest.mark.parametrize("path", sorted(GIS.rglob("*.py")), ids=lambda p: str(p.relative_to(GIS)))
def test_gis_never_imports_backend(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [
        name
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and node.level == 0
            else []
        )
    ]
    assert not [n for n in imported if n == "backend" or n.startswith("backend.")]
