"""Reading and writing customer tables: CSV (UTF-8 or GBK) and XLSX, one row per account."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import Any

from backend.errors import Unprocessable
from backend.reports.export import csv_restore, csv_safe, xlsx_row

# (column, Chinese header) in file order; both spellings are accepted on import.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("account_number", "户号"),
    ("name", "户名"),
    ("customer_type", "用户类型"),
    ("voltage_level", "电压等级"),
    ("contract_capacity_kw", "合同容量"),
    ("region_code", "地区"),
    ("department_code", "管理单位"),
    ("contact_name", "联系人"),
    ("contact_phone", "联系电话"),
    ("contract_number", "合同编号"),
    ("contract_expires_on", "合同到期日"),
    ("supply_scheme", "供电方案"),
    ("address", "用电地址"),
    ("lat", "纬度"),
    ("lon", "经度"),
    ("line_name", "线路"),
    ("meter_number", "电能表编号"),
    ("meter_type", "表型"),
    ("multiplier", "倍率"),
    ("reading_method", "抄表方式"),
    ("installed_on", "装表日期"),
    ("calibrated_on", "检定日期"),
)
ALIASES = {alias: name for name, zh in COLUMNS for alias in (name, zh)}
ENCODINGS = {"utf-8": "utf-8-sig", "gbk": "gb18030"}  # GB18030 is GBK's superset


class Table:
    """Parsed rows: the file's header names and, per data row, its sheet row number."""

    def __init__(self, headers: list[str], rows: list[tuple[int, dict[str, str]]]) -> None:
        self.headers = headers
        self.rows = rows


def decode(data: bytes, encoding: str | None) -> tuple[str, str]:
    """Decode CSV bytes as the declared encoding, else UTF-8, else GBK; say which was used."""
    candidates = [encoding] if encoding else ["utf-8", "gbk"]
    for name in candidates:
        try:
            return data.decode(ENCODINGS[name]), name
        except UnicodeDecodeError as exc:
            if encoding:
                raise Unprocessable(
                    f"The file is not valid {name} (byte {exc.start}); declare the right "
                    f"encoding ({' or '.join(ENCODINGS)})."
                ) from exc
    raise Unprocessable("The file is neither UTF-8 nor GBK text.")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _table(lines: Iterable[list[Any]], aliases: Mapping[str, str] = ALIASES) -> Table:
    iterator = iter(lines)
    header = next(iterator, None)
    if not header:
        raise Unprocessable("The file is empty: a header row naming the columns is needed.")
    names = [_cell(h) for h in header]
    unknown = [h for h in names if h and h not in aliases]
    if unknown:
        raise Unprocessable(f"Unknown column(s): {', '.join(unknown)}.", unknown_columns=unknown)
    keys = [aliases.get(h) for h in names]
    if "account_number" not in keys:
        raise Unprocessable("The file has no account number column (account_number / 户号).")
    rows = []
    for number, line in enumerate(iterator, start=2):
        cells = [_cell(c) for c in line]
        if not any(cells):
            continue  # blank lines are not rows
        row = {k: cells[i] if i < len(cells) else "" for i, k in enumerate(keys) if k}
        rows.append((number, row))
    return Table(names, rows)


def read_csv(
    data: bytes, encoding: str | None, aliases: Mapping[str, str] = ALIASES
) -> tuple[Table, str]:
    """Parse a CSV file; returns the table and the encoding it was read in.

    `aliases` maps each accepted header (English or Chinese) to its column: the customer
    table's by default; other tables keyed by account number (billing) pass their own.
    """
    text, used = decode(data, encoding)
    try:
        lines = ([csv_restore(c) for c in line] for line in csv.reader(io.StringIO(text)))
        return _table(lines, aliases), used
    except csv.Error as exc:
        raise Unprocessable(f"The CSV file is malformed: {exc}.") from exc


MAX_SHEET_ROWS = 100_000  # rows of an XLSX sheet read, blank ones included
MAX_SHEET_COLUMNS = 256  # cells of a row read (the widest import has a few dozen columns)


def xlsx_rows(data: bytes) -> Iterator[list[Any]]:
    """Yield the rows of an XLSX workbook's first sheet, values only.

    openpyxl reads a read-only sheet lazily, so a damaged cell (a number that is not one, a
    shared string past the table's end, broken XML) raises only when its row is reached:
    that, like a file that does not open, is a 422.
    """
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    damaged = (InvalidFileException, BadZipFile, KeyError, OSError, ValueError, IndexError,
               TypeError, SyntaxError)  # fmt: skip # SyntaxError: XML ParseError
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except damaged as exc:
        raise Unprocessable("The file is not an XLSX workbook.") from exc
    try:
        # Bounded however the sheet is written: openpyxl yields an empty row for every row
        # number skipped (one cell at row 10^12 is 10^12 rows), and a declared dimension
        # widens every row (up to 16,384 columns).
        sheet = book.worksheets[0]
        declared = sheet.max_column  # from the sheet's dimension, if it has one
        width = min(declared, MAX_SHEET_COLUMNS) if declared else None
        rows = sheet.iter_rows(values_only=True, max_row=MAX_SHEET_ROWS + 1, max_col=width)
        for number, row in enumerate(rows, start=1):
            if number > MAX_SHEET_ROWS:
                raise Unprocessable(f"At most {MAX_SHEET_ROWS} rows per sheet; split the file.")
            yield list(row[:MAX_SHEET_COLUMNS])
    except damaged as exc:
        raise Unprocessable(f"The XLSX workbook is damaged: {str(exc)[:200]}.") from exc
    finally:
        book.close()


def read_xlsx(data: bytes, aliases: Mapping[str, str] = ALIASES) -> Table:
    """Parse the first sheet of an XLSX workbook."""
    return _table(xlsx_rows(data), aliases)


def write(rows: Iterable[dict[str, Any]], columns: list[str], file_format: str) -> bytes:
    """Write rows as CSV (UTF-8 with BOM, so spreadsheet programs read Chinese) or XLSX."""
    if file_format == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("customers")
        sheet.append(columns)
        for row in rows:
            sheet.append(xlsx_row(sheet, [row.get(c) for c in columns]))
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else csv_safe(row.get(c)) for c in columns])
    return buffer.getvalue().encode("utf-8-sig")
