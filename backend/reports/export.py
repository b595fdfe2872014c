"""CSV and XLSX renderings of report tables."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook

Table = list[dict[str, Any]]
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _columns(rows: Table) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    return columns


def to_csv(rows: Table) -> str:
    """Render one table as CSV with a header row (empty cells for missing values)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def to_xlsx(tables: dict[str, Table]) -> bytes:
    """Render every table as a worksheet named after it."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in tables.items():
        sheet = workbook.create_sheet(title=name[:31])
        columns = _columns(rows)
        sheet.append(columns)
        for row in rows:
            sheet.append([row.get(c) for c in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
