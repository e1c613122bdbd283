"""The order fingerprint is stored with every order: its value must never drift."""
from __future__ import annotations

import hashlib
import json

from hypothesis import given, strategies as st

from supply.domain.rules import OrderLineRequest, OrderRequest


def reference(request: OrderRequest) -> str:
    body = {"stream_id": request.stream_id, "lines": sorted([line.sku, line.quantity] for line in request.lines)}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@given(st.lists(st.tuples(st.text(min_size=1, max_size=12), st.integers(1, 10**6)), min_size=1, max_size=6),
       st.one_of(st.none(), st.integers(1, 2**31 - 1)))
def test_the_fingerprint_is_the_sha256_of_the_sorted_json_body(lines, stream_id):
    request = OrderRequest("douyin", "DY-1", tuple(OrderLineRequest(sku, q) for sku, q in lines), stream_id=stream_id)
    assert request.fingerprint() == reference(request)


def test_known_values_do_not_change():
    request = OrderRequest("douyin", "DY-1", (OrderLineRequest("苦荞-500", 2), OrderLineRequest("A\"\\\n", 1)))
    assert request.fingerprint() == reference(request)
    # Independent of the order of lines and of the platform's ids.
    swapped = OrderRequest("kuaishou", "K-9", tuple(reversed(request.lines)))
    assert swapped.fingerprint() == request.fingerprint()
    assert OrderRequest("douyin", "DY-1", request.lines, stream_id=3).fingerprint() != request.fingerprint()
