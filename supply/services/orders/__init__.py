"""Orders: recording them (each reserved against available-to-promise, or refused), reading them back
and cancelling them.

- `reservation`: the rule, on plain figures (start here);
- `record`: `record_orders`, which picks the way to store them: `postgres` (statements that write
  before locking), `bulk` (SQLite) or `one_by_one` (the fallback), on the reads in `lookups`;
- `outcomes`: what each order's answer is; `reads`: an order read back and its shape; `cancel`.

The combiner of concurrent single orders lives with the web layer (supply.api.combiner).
"""
from supply.services.orders.cancel import cancel_order, cancel_order_by_external_id
from supply.services.orders.outcomes import OrderOutcome
from supply.services.orders.reads import get_order, serialize_order
from supply.services.orders.record import lock_products, record_orders

__all__ = ["OrderOutcome", "cancel_order", "cancel_order_by_external_id", "get_order", "lock_products",
           "record_orders", "serialize_order"]
