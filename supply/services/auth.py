"""Bearer tokens: one role each, stored only as a SHA-256 hash (tokens are 256 random bits)."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from supply.db.models import ApiToken, Cooperative, Driver
from supply.domain.errors import InvalidInput, NotFound, Unauthorized
from supply.domain.rules import ROLES

TOKEN_PREFIX = "coop_"


@dataclass(frozen=True)
class Principal:
    role: str
    cooperative_id: int
    driver_id: int | None = None
    token_id: int | None = None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.driver_id or self.token_id}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, *, role: str, cooperative_code: str = "default", driver_id: int | None = None,
                 label: str | None = None) -> str:
    """Store the hash of a new token and return the token itself (shown once)."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", fields={"role": ["unknown role"]})
    coop = session.execute(select(Cooperative).where(Cooperative.code == cooperative_code)).scalar()
    if coop is None:
        raise NotFound(f"cooperative {cooperative_code!r} does not exist")
    if (role == "driver") != (driver_id is not None):
        raise InvalidInput("a driver token needs --driver, and only a driver token takes one",
                           fields={"driver": ["required for role driver only"]})
    if driver_id is not None:
        driver = session.get(Driver, driver_id)
        if driver is None or driver.cooperative_id != coop.id:
            raise NotFound(f"driver {driver_id} does not exist", fields={"driver": ["unknown driver"]})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(cooperative_id=coop.id, role=role, driver_id=driver_id, token_hash=hash_token(token),
                         label=label))
    session.flush()
    return token


def authenticate(session: Session, token: str) -> Principal:
    digest = hash_token(token)
    row = session.execute(select(ApiToken).where(ApiToken.token_hash == digest)).scalar()
    # The lookup is by hash; compare again in constant time so no timing tells how close a guess was.
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthorized("the token is not valid")
    return Principal(role=row.role, cooperative_id=row.cooperative_id, driver_id=row.driver_id, token_id=row.id)


def create_driver(session: Session, cooperative_id: int, *, name: str, phone: str | None = None) -> dict:
    driver = Driver(cooperative_id=cooperative_id, name=name, phone=phone)
    session.add(driver)
    session.flush()
    return {"id": driver.id, "name": driver.name, "phone": driver.phone}
