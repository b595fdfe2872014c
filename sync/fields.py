"""Marshmallow number fields that read only ASCII digits (every schema's integers and floats).

marshmallow's own `Integer` and `Float` turn a string into a number with `int()` / `float()`,
which accept any Unicode decimal digit: "١٢٣" (Arabic-Indic) would be 123 in a query, a form
or a JSON string, although no client means that and no log or check reads it so. These refuse
such a string as invalid (a 422 naming the field); JSON numbers are unaffected.
"""

from typing import Any

from marshmallow import fields


def _ascii(field: fields.Number[Any], value: Any) -> None:
    if isinstance(value, str | bytes) and not value.isascii():
        raise field.make_error("invalid")


class Integer(fields.Integer):
    """An integer; as text only in ASCII digits."""

    def _validated(self, value: Any) -> Any:
        _ascii(self, value)
        return super()._validated(value)


class Float(fields.Float):
    """A floating-point number; as text only in ASCII digits."""

    def _validated(self, value: Any) -> Any:
        _ascii(self, value)
        return super()._validated(value)


class Decimal(fields.Decimal):
    """A decimal number (money); as text only in ASCII digits."""

    def _validated(self, value: Any) -> Any:
        _ascii(self, value)
        return super()._validated(value)
