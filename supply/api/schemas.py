"""Shared marshmallow pieces: strict types, text without control characters, the error shape."""
from __future__ import annotations

import re
import unicodedata

from marshmallow import Schema, ValidationError, fields, validate

from supply.domain.rules import MAX_LINE_QUANTITY


def printable_text(value: str) -> None:
    """Chinese, emoji and any printable text are fine; control characters and blank text are not."""
    if not value.strip():
        raise ValidationError("must not be blank")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co") for ch in value):
        raise ValidationError("must not contain control characters")


def Text(max_length: int = 200, **kwargs) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=max_length), printable_text], **kwargs)


INT64_MIN, INT64_MAX = -2**63, 2**63 - 1


def Int(minimum: int | None = None, maximum: int | None = None, *, validate_also=None, strict: bool = True,
        **kwargs) -> fields.Integer:
    """An integer in range. JSON bodies are strict (no "5", no 5.5); query strings are text by nature.
    Without a bound, the 64-bit range of the columns (10**30 in a body or a query is a 422, not an
    overflow in the database)."""
    minimum = INT64_MIN if minimum is None else minimum
    maximum = INT64_MAX if maximum is None else maximum
    validators = [validate.Range(min=minimum, max=maximum)] + ([validate_also] if validate_also else [])
    return fields.Integer(strict=strict, validate=validators, **kwargs)


MAX_ID = 2**31 - 1  # ids of farms, hubs, vehicles, drivers, streams (32-bit keys)


def Id(**kwargs) -> fields.Integer:
    return Int(1, MAX_ID, **kwargs)


class QueryInteger(fields.Integer):
    """An integer written as text (a query parameter): ASCII digits, after a '-' only where
    negatives are allowed (`signed`). marshmallow's Integer reads text with int(), which also takes
    "+1", " 1", "1_0" (as 10), full-width and Arabic-Indic digits: one number under many spellings."""

    default_error_messages = {
        "invalid": "Not a valid integer: ASCII digits (0-9) only, without a sign.",
        "invalid_signed": "Not a valid integer: ASCII digits (0-9) only, after a '-' for a negative one.",
    }

    def __init__(self, *, signed: bool = True, **kwargs):
        super().__init__(strict=False, **kwargs)
        self.signed = signed

    def _validated(self, value):
        if isinstance(value, str):
            if not (_SIGNED_DIGITS if self.signed else _DIGITS).fullmatch(value):
                raise self.make_error("invalid_signed" if self.signed else "invalid", input=value)
        elif value is True or value is False or not isinstance(value, int):
            raise self.make_error("invalid_signed" if self.signed else "invalid", input=value)
        return super()._validated(value)


_DIGITS = re.compile("[0-9]+")
_SIGNED_DIGITS = re.compile("-?[0-9]+")


def QueryInt(minimum: int | None = None, maximum: int | None = None, **kwargs) -> fields.Integer:
    """An integer query parameter in range (the 64-bit range without a bound), written in ASCII digits;
    a '-' is read only when `minimum` allows negatives."""
    minimum = INT64_MIN if minimum is None else minimum
    maximum = INT64_MAX if maximum is None else maximum
    return QueryInteger(signed=minimum < 0, validate=validate.Range(min=minimum, max=maximum), **kwargs)


def QueryId(**kwargs) -> fields.Integer:
    return QueryInt(1, MAX_ID, **kwargs)


class StrictBoolean(fields.Boolean):
    """JSON true or false only: not "true", not 1 (1 == True, so a truthy set alone lets it in)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictNumber(fields.Float):
    """A JSON number: not "42.5", not true."""

    def _validated(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid")
        return super()._validated(value)


def Bool(**kwargs) -> fields.Boolean:
    return StrictBoolean(**kwargs)


def Number(**kwargs) -> fields.Float:
    return StrictNumber(allow_nan=False, **kwargs)


Quantity = lambda **kw: Int(1, MAX_LINE_QUANTITY, **kw)  # noqa: E731


class ErrorDetail(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), data_key="fields")


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetail, required=True)
