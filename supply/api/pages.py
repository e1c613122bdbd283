"""Lists answer one way: flask-smorest's pagination.

A list takes `page` (from 1) and `page_size` in its query and answers one page, the header
`X-Pagination` giving the total, the number of pages and the first, last, previous and next page.

    @blp.response(200, FarmOut(many=True))
    @paginated(blp)                 # a list built whole by its service: the page is cut from it
    def get(self): ...

    @blp.response(200, PickupOut(many=True))
    @paginated(blp, in_query=True)  # a long list: the service reads one page, `window` says which
    def get(self, query, pagination_parameters):
        found = count_pickups(...)
        return list_pickups(..., **window(pagination_parameters, found))
"""
from __future__ import annotations

from functools import wraps

from flask import request
from flask_smorest import Page, abort

PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000
# The 64-bit range of every other query integer; a page past a list's end is empty, and no database
# sees an offset beyond the list's length.
MAX_PAGE = 2**63 - 1


def paginated(blp, *, in_query: bool = False):
    """flask-smorest's `blp.paginate` with the service's sizes; its invalid page answers as every
    other invalid field does (422, the error shape, documented as Error422)."""
    decorate = blp.paginate(None if in_query else _Page, page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)

    def decorator(func):
        paged = decorate(func)

        @wraps(paged)   # its `_apidoc` too
        def wrapper(*args, **kwargs):
            _check_once()
            return paged(*args, **kwargs)

        pagination = wrapper._apidoc["pagination"]
        pagination["response"] = {code: f"Error{code}" for code in pagination["response"]}
        return wrapper

    return decorator


def window(pagination_parameters, total: int) -> dict:
    """The rows of the asked page as `limit` and `offset`; records the total for X-Pagination."""
    _check(pagination_parameters)
    pagination_parameters.item_count = total
    first = pagination_parameters.first_item
    return {"limit": pagination_parameters.page_size if first < total else 0, "offset": min(first, total)}


class _Page(Page):
    def __init__(self, collection, page_params):
        _check(page_params)
        super().__init__(collection, page_params)


def _check_once() -> None:
    """`?page=1&page=2`: webargs would take the first and drop the other unseen; say which is ambiguous."""
    repeated = {name: ["given more than once"] for name in ("page", "page_size") if len(request.args.getlist(name)) > 1}
    if repeated:
        _refuse(repeated)


def _check(pagination_parameters) -> None:
    if pagination_parameters.page > MAX_PAGE:
        _refuse({"page": [f"at most {MAX_PAGE}"]})


def _refuse(fields: dict) -> None:
    """As webargs refuses the page's other faults (page=0): 422 `validation_error` naming the field."""
    abort(422, messages={"query": fields})
