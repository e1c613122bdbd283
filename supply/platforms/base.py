"""The shared vocabulary of the platform adapters: events, errors, the adapter base and small helpers.

Nothing here knows HTTP frameworks, the database or our order model: an adapter turns a raw webhook
body into `PlatformEvent` values and says what the platform expects back.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from supply.domain.rules import MAX_LINE_QUANTITY, MAX_LINES_PER_ORDER

# "refused": an event of a signed push that could not be read or breaks a column's limit; it is stored
# with its reason and raw event (for the manager) and changes nothing else.
EVENT_KINDS = ("ping", "created", "paid", "cancelled", "refunded", "other", "refused")

# What the database holds for each value of an event (supply/db/models.py): every event is checked
# against these before anything of it is written, so one odd field refuses one event, not the push.
MAX_MESSAGE_ID = 200      # platform_messages.message_id
MAX_ORDER_ID = 128        # orders.external_id, platform_messages.external_order_id
MAX_PRODUCT_REF = 128     # platform_products.product_ref
MAX_SKU = 64              # products.sku (the generic format's lines name SKUs)
MAX_STREAM_ID = 2**31 - 1  # streams.id
BIGINT_MIN, BIGINT_MAX = -2**63, 2**63 - 1
MAX_EPOCH_S = 253402300799   # 9999-12-31 23:59:59 UTC, the last second a datetime holds
# Deepest nesting a stored event keeps (orjson writes at most 255 levels; nothing real nests past a few).
MAX_STORED_DEPTH = 32
# What reading a value of an unexpected type raises (a list where text belongs, text where a number
# does): the event is refused, never the push.
UNREADABLE = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, OSError, RecursionError)
# Control characters (NUL among them: PostgreSQL text cannot hold it) and lone surrogates (no UTF-8).
_FORBIDDEN_IN_ID = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

# Platforms that do not say otherwise report local times in China Standard Time.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


class PlatformError(Exception):
    """Base of everything the adapters raise on purpose."""

    code = "platform_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidSignature(PlatformError):
    """The request is not provably from the platform: answer 401 and store nothing."""

    code = "invalid_signature"


class InvalidPayload(PlatformError):
    """The body is signed but malformed; `field` is a dotted path such as ``events[0].order.lines``."""

    code = "invalid_payload"

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    @property
    def fields(self) -> dict[str, list[str]]:
        return {self.field: [self.reason]}


class UnknownPlatform(PlatformError, LookupError):
    """No adapter is configured under that name."""

    code = "unknown_platform"


class PlatformConfigError(PlatformError, ValueError):
    """A platform's entry in COOP_PLATFORM_SECRETS is missing a key or has the wrong shape."""

    code = "platform_config_error"


@dataclass(frozen=True)
class PlatformLine:
    """One line of a platform order: the platform's own product/SKU id and a quantity.

    Mapping `product_ref` to our SKU is the service's job (platform products, mapped by the manager or
    by linking a listing); in our own signed format the ref is the SKU itself.
    """

    product_ref: str
    quantity: int


@dataclass(frozen=True)
class PlatformEvent:
    """One order event from a platform, normalised.

    - `message_id` is stable across re-deliveries of the same message: de-duplicate on
      (`platform`, `message_id`).
    - `version` orders events about one order that arrive out of order: a higher version overrides a
      lower one; None when the platform gives nothing usable.
    - `lines == ()` means the push did not carry line items (Douyin and Kuaishou messages never do):
      the service must store the event and mark the order "needs order detail" (fetch it from the
      platform's order API, or report it to the manager), never drop it. See `needs_order_detail`.
    - `buyer` holds personal data (names, phones, addresses, buyer ids) kept apart from `raw`, which
      has those parts removed, so the service can protect or discard it in one place.
    """

    platform: str
    message_id: str
    kind: str
    external_order_id: str | None = None
    version: int | None = None
    occurred_at: datetime | None = None
    lines: tuple[PlatformLine, ...] = ()
    amount_fen: int | None = None
    buyer: dict | None = field(default=None, compare=False)
    raw: dict = field(default_factory=dict, compare=False)
    # For kind "refused": {"field", "reason"}: why the event was not read.
    refusal: dict | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"kind must be one of {EVENT_KINDS}, not {self.kind!r}")

    @property
    def needs_order_detail(self) -> bool:
        """True for an order event that names an order but carries no line items."""
        return self.kind in ("created", "paid") and not self.lines and self.external_order_id is not None


class PlatformAdapter(ABC):
    """One livestream platform's webhook dialect.

    The web layer calls, in this order: `verify(headers, raw_body)` (raises `InvalidSignature`),
    `parse(raw_body)` (raises `InvalidPayload`), hands the events to the service, then answers with
    `acknowledge(results)` on success or `reject(...)` on failure.
    """

    name: str

    @abstractmethod
    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        """Raise `InvalidSignature` unless the body provably comes from the platform."""

    @abstractmethod
    def parse(self, raw_body: bytes) -> list[PlatformEvent]:
        """Decode a verified body into events; raise `InvalidPayload(field, reason)` when malformed."""

    def acknowledge(self, results: Sequence[Any] = ()) -> tuple[dict, int]:
        """The body and status the platform expects once every event is stored."""
        return {"code": 0, "msg": "success"}, 200

    def reject(self, status: int = 401, code: str = "invalid_signature",
               message: str = "signature missing or wrong") -> tuple[dict, int]:
        """What to answer on failure.

        None of the platforms documents a failure body in the sources we rely on, only that anything
        other than the success answer makes it deliver again; so every adapter answers with the
        project's error shape (API.md) and a non-2xx status.
        """
        return {"error": {"code": code, "message": message}}, status


# -- helpers shared by the adapters ------------------------------------------------------------


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header value looked up without regard to case (a plain dict is case-sensitive)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lowered:
                value = candidate
                break
    return value.strip() if isinstance(value, str) else None


def same_hex_digest(expected_hex: str, given: str | None) -> bool:
    """Constant-time comparison of a hex digest, ignoring the case of the given one."""
    if not given:
        return False
    return hmac.compare_digest(expected_hex.lower().encode("ascii"), given.strip().lower().encode("ascii", "replace"))


# Deepest JSON any body may nest (ours and the platforms' nest a handful of levels): deeper is refused
# before it is parsed, so no reader, writer or validator ever recurses through it.
MAX_JSON_DEPTH = 32
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def nested_too_deeply(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests deeper than `limit`, judged without parsing it and at C speed: the
    strings removed, the brackets kept, then innermost pairs removed level by level (at most `limit`
    passes). A body with no more than `limit` brackets (most of them) is not looked at."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")   # then every '"' opens or closes a string
    brackets = b"".join(unescaped.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if not shorter or shorter == brackets:
            return False   # fits (or is malformed, which the parser words)
        brackets = shorter
    return bool(brackets)


def load_json(raw: bytes | str, field_name: str) -> Any:
    if nested_too_deeply(raw):
        raise InvalidPayload(field_name, f"nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return orjson.loads(raw)   # the usual body, fast
    except orjson.JSONDecodeError:
        pass   # read again below for the standard library's wording (and what only it accepts)
    try:
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        return json.loads(raw)
    except UnicodeDecodeError:
        raise InvalidPayload(field_name, "is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InvalidPayload(field_name, f"is not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise InvalidPayload(field_name, "is nested too deeply") from None


# -- every value checked against the column it goes to -----------------------------------------


def check_event(event: PlatformEvent, path: str, *, max_ref: int = MAX_PRODUCT_REF) -> PlatformEvent:
    """`event` when every value of it fits the column it goes to; raises `InvalidPayload` otherwise.

    Cheap for a plainly valid event (a few comparisons, one regular expression per id and one orjson
    write of the raw event, which also refuses what no JSON column can hold: integers beyond 64 bits,
    lone surrogates, nesting past orjson's limit)."""
    check_id(event.message_id, f"{path}.message_id", MAX_MESSAGE_ID)
    if event.external_order_id is not None:
        check_id(event.external_order_id, f"{path}.external_order_id", MAX_ORDER_ID)
    for name in ("version", "amount_fen"):
        value = getattr(event, name)
        if value is not None and not BIGINT_MIN <= value <= BIGINT_MAX:
            raise InvalidPayload(f"{path}.{name}", "is beyond the 64-bit integer range")
    if len(event.lines) > MAX_LINES_PER_ORDER:
        raise InvalidPayload(f"{path}.lines", f"must hold at most {MAX_LINES_PER_ORDER} lines")
    for i, line in enumerate(event.lines):
        check_id(line.product_ref, f"{path}.lines[{i}].product_ref", max_ref)
        if not 0 < line.quantity <= MAX_LINE_QUANTITY:
            raise InvalidPayload(f"{path}.lines[{i}].quantity", f"must be between 1 and {MAX_LINE_QUANTITY}")
    for name in ("raw", "buyer"):
        value = getattr(event, name)
        if value is not None:
            try:
                orjson.dumps(value)
            except TypeError as exc:
                raise InvalidPayload(f"{path}.{name}", f"cannot be stored ({exc})") from None
    return event


def check_id(value: Any, field_name: str, max_length: int) -> str:
    if type(value) is not str or not value:
        raise InvalidPayload(field_name, "must be a non-empty string")
    if len(value) > max_length:
        raise InvalidPayload(field_name, f"must be at most {max_length} characters")
    if _FORBIDDEN_IN_ID.search(value):
        raise InvalidPayload(field_name, "must not contain control characters or lone surrogates")
    return value


def refused_event(platform: str, item: Any, problem: InvalidPayload) -> PlatformEvent:
    """An event that could not be read, kept as it came (made storable) with why; its message id is a
    digest of the event, so a re-delivery of it is a duplicate."""
    raw = storable(item)
    digest = hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)).hexdigest()[:40]
    return PlatformEvent(platform=platform, message_id=f"refused:{digest}", kind="refused",
                         raw=raw if isinstance(raw, dict) else {"event": raw},
                         refusal={"field": storable(problem.field), "reason": storable(problem.reason)})


def storable(value: Any, depth: int = 0) -> Any:
    """A copy of a decoded JSON value that any JSON column holds: integers beyond 64 bits and
    non-finite numbers as text, NUL and lone surrogates escaped, nesting cut at MAX_STORED_DEPTH."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if _FORBIDDEN_IN_ID.search(value):
            value = value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")
        return value
    if isinstance(value, int):
        return value if BIGINT_MIN <= value <= BIGINT_MAX else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= MAX_STORED_DEPTH:
        return "(nested too deeply)"
    if isinstance(value, dict):
        return {storable(str(k)): storable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v, depth + 1) for v in value]
    return storable(str(value))


def require_object(value: Any, field_name: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidPayload(field_name, "must be an object")
    return value


def id_string(value: Any, field_name: str, *, required: bool = True) -> str | None:
    """Platform ids arrive as strings or (large) integers; we keep them as strings."""
    if value is None or value == "":
        if required:
            raise InvalidPayload(field_name, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidPayload(field_name, "must be a string or an integer")
    return str(value).strip()


def optional_int(value: Any, field_name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidPayload(field_name, "must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise InvalidPayload(field_name, "must be an integer")


def positive_quantity(value: Any, field_name: str) -> int:
    quantity = optional_int(value, field_name)
    if quantity is None:
        raise InvalidPayload(field_name, "is required")
    if quantity <= 0:
        raise InvalidPayload(field_name, "must be a positive integer")
    return quantity


def yuan_to_fen(value: Any, field_name: str) -> int | None:
    """A money amount in yuan ("12.50" or 12.5) as integer fen, exactly (no float rounding)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidPayload(field_name, "must be an amount in yuan")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidPayload(field_name, "must be an amount in yuan") from None
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise InvalidPayload(field_name, "has more than two decimals")
    return int(fen)


def from_epoch(value: Any, field_name: str, *, millis: bool = False) -> datetime | None:
    number = optional_int(value, field_name)
    if number is None or number <= 0:
        return None
    if number > (MAX_EPOCH_S * 1000 if millis else MAX_EPOCH_S):
        raise InvalidPayload(field_name, "is not a time before the year 10000")
    return datetime.fromtimestamp(number / 1000 if millis else number, tz=timezone.utc)


def from_china_local(value: Any, field_name: str) -> datetime | None:
    """'2024-06-18 20:15:03' in China Standard Time, as an aware datetime."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidPayload(field_name, "must be a 'YYYY-MM-DD HH:MM:SS' time")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidPayload(field_name, "must be a 'YYYY-MM-DD HH:MM:SS' time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA_TZ)


def without(mapping: dict, keys: Sequence[str]) -> dict:
    return {k: v for k, v in mapping.items() if k not in keys}
