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

from flask import current_app, request
from flask_smorest import Page, abort
from marshmallow import EXCLUDE, Schema

from supply.api.schemas import QueryInt

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


class _PageQuery(Schema):
    """`page` and `page_size` as every other integer query parameter is read (ASCII digits only): the
    schema flask-smorest parses them with afterwards reads them with int(), which takes "+1" or "1_0"."""

    class Meta:
        unknown = EXCLUDE

    page = QueryInt(1, MAX_PAGE)
    page_size = QueryInt(1, MAX_PAGE_SIZE)


_PAGE_QUERY = _PageQuery()


def page_faults() -> dict[str, list[str]]:
    """What is wrong with this request's `page` and `page_size`, by field (empty: nothing)."""
    faults = {name: ["given more than once"] for name in ("page", "page_size") if len(request.args.getlist(name)) > 1}
    if "page" in request.args or "page_size" in request.args:
        for name, messages in _PAGE_QUERY.validate(request.args).items():
            faults.setdefault(name, messages)
    return faults


def paginates(view) -> bool:
    """Whether the view answering this request takes `page` and `page_size`."""
    view_class = getattr(view, "view_class", None)
    method = getattr(view_class, request.method.lower(), None) if view_class is not None else view
    return "pagination" in (getattr(method, "_apidoc", None) or {})


def page_faults_of_this_request() -> dict[str, list[str]]:
    """page_faults() when this request's view paginates, else nothing: a query refused before its page
    was read (its filters) names the page's faults too."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return page_faults() if view is not None and paginates(view) else {}


def _check_once() -> None:
    """Before flask-smorest reads them: `?page=1&page=2` (webargs would take the first and drop the
    other unseen) and any page or size it would read too leniently."""
    faults = page_faults()
    if faults:
        _refuse(faults)


def _check(pagination_parameters) -> None:
    if pagination_parameters.page > MAX_PAGE:
        _refuse({"page": [f"at most {MAX_PAGE}"]})


def _refuse(fields: dict) -> None:
    """As webargs refuses the page's other faults (page=0): 422 `validation_error` naming the field."""
    abort(422, messages={"query": fields})
