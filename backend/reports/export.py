"""CSV and XLSX renderings of report tables."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

Table = list[dict[str, Any]]
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# A cell a spreadsheet program would run as a formula (OWASP's CSV injection list).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A CSV value as text a spreadsheet shows, never runs: a formula-like string gets a `'`.

    Names, addresses and notes come from customers, imports and handhelds: an export must not
    turn `=HYPERLINK(...)` typed into one of them into a live formula on the reader's desk.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_restore(value: str) -> str:
    """Undo `csv_safe` when a file Fieldline exported comes back as an import."""
    if value.startswith("'") and value[1:].startswith(_FORMULA_STARTS):
        return value[1:]
    return value


def _xml_text(value: str) -> str:
    """Return text XML can carry: control characters as their OOXML escape `_xHHHH_`.

    A name or note may hold one (only NUL is refused on input); XML 1.0 cannot write it, and
    Excel shows the escape as the character.
    """
    return ILLEGAL_CHARACTERS_RE.sub(lambda found: f"_x{ord(found.group()):04X}_", value)


def xlsx_row(sheet: Any, values: list[Any]) -> list[Any]:
    """A worksheet row whose strings are always text cells (openpyxl makes `=...` a formula)."""
    row: list[Any] = []
    for value in values:
        if isinstance(value, str):
            value = _xml_text(value)
        if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            row.append(cell)
        else:
            row.append(value)
    return row


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
    writer.writerows({k: csv_safe(v) for k, v in row.items()} for row in rows)
    return buffer.getvalue()


def to_xlsx(tables: dict[str, Table]) -> bytes:
    """Render every table as a worksheet named after it."""
    workbook = Workbook(write_only=True)
    for name, rows in tables.items():
        sheet = workbook.create_sheet(title=name[:31])
        columns = _columns(rows)
        sheet.append(columns)
        for row in rows:
            sheet.append(xlsx_row(sheet, [row.get(c) for c in columns]))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
