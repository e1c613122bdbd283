"""Farm-gate prices: what the cooperative pays a farm for a product (and grade) from a date.

A price is never edited: the manager sets a new one from a date and the old one keeps holding for the
days before it (the history is the table). A price is in whole fen, per unit of the product or per kg
of it (produce is often bought by weight); amounts are computed in services.statements.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supply.db.farmside import FarmGatePrice
from supply.db.models import Product
from supply.domain.errors import Conflict, InvalidInput, UnknownSku

BASES = ("unit", "kg")


def _product(session: Session, cooperative_id: int, sku: str) -> Product:
    product = session.execute(select(Product).where(Product.cooperative_id == cooperative_id,
                                                    Product.sku == sku)).scalar()
    if product is None:
        raise UnknownSku(f"no product with SKU {sku}", fields={"sku": ["unknown SKU"]})
    return product


def set_price(session: Session, cooperative_id: int, *, sku: str, valid_from: date, price_fen: int,
              grade: str | None = None, basis: str = "unit", actor: str, note: str | None = None) -> dict:
    """A new price from `valid_from`. The same product, grade and date twice is refused: prices are
    never edited in place (set the correction from another date)."""
    if basis not in BASES:
        raise InvalidInput("unknown price basis", fields={"basis": [f"one of {', '.join(BASES)}"]})
    if price_fen < 0:
        raise InvalidInput("a price cannot be negative", fields={"price_fen": ["must be at least 0"]})
    product = _product(session, cooperative_id, sku)
    grade = grade or ""
    existing = session.execute(select(FarmGatePrice).where(
        FarmGatePrice.product_id == product.id, FarmGatePrice.grade == grade,
        FarmGatePrice.valid_from == valid_from)).scalar()
    if existing is not None:
        raise Conflict(f"a price of {sku}{' grade ' + grade if grade else ''} from {valid_from} is already set; "
                       "prices are never edited: set a new one from another date",
                       code="price_exists", fields={"valid_from": ["a price already starts on this date"]})
    _refuse_rewriting_history(session, cooperative_id, product, grade, valid_from)
    price = FarmGatePrice(cooperative_id=cooperative_id, product_id=product.id, grade=grade,
                          valid_from=valid_from, price_fen=price_fen, basis=basis, actor=actor, note=note)
    session.add(price)
    session.flush()
    return serialize_price(price, product)


def _refuse_rewriting_history(session: Session, cooperative_id: int, product: Product, grade: str,
                              valid_from: date) -> None:
    """A new price may not change what a statement already said: it is refused for days that have
    units taken at the farm gate and were priced already. (A first price for days never priced is fine.)"""
    from supply.db.farmside import FarmGateRecord

    later = session.execute(select(func.min(FarmGatePrice.valid_from)).where(
        FarmGatePrice.product_id == product.id, FarmGatePrice.grade == grade,
        FarmGatePrice.valid_from > valid_from)).scalar()
    query = (select(FarmGateRecord.day, FarmGateRecord.grade).where(
        FarmGateRecord.product_id == product.id, FarmGateRecord.outcome == "accepted",
        FarmGateRecord.day >= valid_from).distinct())
    if later is not None:
        query = query.where(FarmGateRecord.day < later)
    if grade:
        query = query.where(FarmGateRecord.grade == grade)
    book = PriceBook(session, cooperative_id)
    for day, taken_grade in session.execute(query).all():
        current = book.price_on(product.id, taken_grade, day)
        if current is not None and not (grade == "" and current.grade):  # a grade's own price governs it
            raise Conflict(f"units of {product.sku} taken on {day} were priced already; a price from "
                           f"{valid_from} would change their statement", code="price_in_the_past",
                           fields={"valid_from": [f"after {day}, the last day priced and collected"]})


def serialize_price(price: FarmGatePrice, product: Product) -> dict:
    return {"id": price.id, "sku": product.sku, "product_name": product.name, "grade": price.grade or None,
            "valid_from": price.valid_from, "price_fen": price.price_fen, "basis": price.basis,
            "note": price.note, "actor": price.actor, "created_at": price.created_at}


def list_prices(session: Session, cooperative_id: int, *, sku: str | None = None,
                on: date | None = None) -> list[dict]:
    """The price history, oldest first; with `on`, only the prices holding on that day."""
    query = (select(FarmGatePrice, Product).join(Product, Product.id == FarmGatePrice.product_id)
             .where(FarmGatePrice.cooperative_id == cooperative_id)
             .order_by(Product.sku, FarmGatePrice.grade, FarmGatePrice.valid_from))
    if sku is not None:
        query = query.where(FarmGatePrice.product_id == _product(session, cooperative_id, sku).id)
    rows = session.execute(query).all()
    if on is not None:
        holding: dict[tuple[int, str], tuple] = {}
        for price, product in rows:
            if price.valid_from <= on:
                holding[(price.product_id, price.grade)] = (price, product)
        rows = list(holding.values())
    return [serialize_price(price, product) for price, product in rows]


@dataclass(frozen=True)
class Price:
    price_fen: int
    basis: str
    valid_from: date
    grade: str


class PriceBook:
    """Every price of a cooperative in memory, to price many statement lines with one query."""

    def __init__(self, session: Session, cooperative_id: int):
        self._by_key: dict[tuple[int, str], tuple[list[date], list[Price]]] = {}
        rows = session.execute(select(FarmGatePrice).where(FarmGatePrice.cooperative_id == cooperative_id)
                               .order_by(FarmGatePrice.valid_from)).scalars()
        for row in rows:
            days, prices = self._by_key.setdefault((row.product_id, row.grade), ([], []))
            days.append(row.valid_from)
            prices.append(Price(row.price_fen, row.basis, row.valid_from, row.grade))

    def price_on(self, product_id: int, grade: str | None, day: date) -> Price | None:
        """The price of the grade holding on `day`; else the price for any grade (''); else None."""
        for key in ((product_id, grade or ""), (product_id, "")):
            found = self._by_key.get(key)
            if found:
                at = bisect.bisect_right(found[0], day)
                if at:
                    return found[1][at - 1]
        return None
