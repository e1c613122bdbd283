"""Forms are checked by the API's own marshmallow schemas, so a page accepts exactly what the API does.

A form posts text; the API's schemas take JSON types strictly (no "42.5" for a number). So a field's
text is read as the type its schema field expects first (a number, a whole number, a yes/no), and what
does not read as that type is passed on as text for the schema to refuse with its own message.
"""
from __future__ import annotations

import math

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from supply.domain.errors import InvalidInput

_YES, _NO = {"true", "1", "on", "yes"}, {"false", "0", "off", "no", ""}


def _typed(field: fields.Field, text: str):
    text = text.strip()
    if isinstance(field, fields.Boolean):
        low = text.lower()
        return True if low in _YES else False if low in _NO else text
    if isinstance(field, fields.Integer):
        try:
            return int(text)
        except ValueError:
            return text
    if isinstance(field, fields.Float):
        try:
            value = float(text)
        except ValueError:
            return text
        return value if math.isfinite(value) else text
    if isinstance(field, fields.List):
        return [_typed(field.inner, part) for part in text.split(",") if part.strip()]
    return text


def load_form(schema: Schema, form) -> dict:
    """A form's fields loaded by `schema` (blank fields count as not given), or InvalidInput naming the
    fields, as the API answers 422."""
    from supply.api.errors import flatten_messages

    data = {}
    for name, field in schema.fields.items():
        value = form.get(name)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            continue
        data[name] = _typed(field, value) if isinstance(value, str) else value
    try:
        return schema.load(data, unknown=EXCLUDE)
    except ValidationError as exc:
        raise InvalidInput("some fields are not valid", fields=flatten_messages(exc.messages)) from exc
