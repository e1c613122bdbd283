"""Forms are checked by the API's own marshmallow schemas, so a page accepts exactly what the API does."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError

from supply.domain.errors import InvalidInput


def load_form(schema: Schema, form, *, blanks_are_missing: bool = True) -> dict:
    """A form's fields loaded by `schema` (blank fields count as not given), or InvalidInput naming the
    fields, as the API answers 422."""
    from supply.api.errors import flatten_messages

    data = {k: v for k, v in form.items() if k != "csrf_token" and not (blanks_are_missing and v == "")}
    for name in schema.fields:
        values = form.getlist(name) if hasattr(form, "getlist") else []
        if len(values) > 1:
            data[name] = values
    try:
        return schema.load(data, unknown=EXCLUDE)
    except ValidationError as exc:
        raise InvalidInput("some fields are not valid", fields=flatten_messages(exc.messages)) from exc
