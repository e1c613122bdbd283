"""Bearer tokens: one role each, stored only as a SHA-256 hash (tokens are 256 random bits)."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from supply.db.models import ApiToken, Cooperative, Driver, utcnow
from supply.domain.errors import Conflict, InvalidInput, NotFound, Unauthorized
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


COOPERATIVE_CODE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def create_cooperative(session: Session, *, code: str, name: str, timezone: str = "Asia/Shanghai") -> dict:
    """A new tenant. `code` names it in tokens and commands (lower-case letters, digits, - and _)."""
    if not COOPERATIVE_CODE.fullmatch(code or ""):
        raise InvalidInput("a cooperative's code is 1-64 lower-case letters, digits, - or _, starting with a "
                           "letter or digit", fields={"code": ["invalid code"]})
    name = (name or "").strip()
    if not 0 < len(name) <= 200 or "\x00" in name:
        raise InvalidInput("a cooperative's name is 1-200 characters", fields={"name": ["invalid name"]})
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {timezone!r}", fields={"timezone": ["unknown time zone"]}) from exc
    if session.execute(select(Cooperative.id).where(Cooperative.code == code)).first() is not None:
        raise Conflict(f"cooperative {code!r} exists already", fields={"code": ["taken"]})
    coop = Cooperative(code=code, name=name, timezone=timezone)
    session.add(coop)
    session.flush()
    return _cooperative_out(coop)


def list_cooperatives(session: Session) -> list[dict]:
    return [_cooperative_out(c) for c in session.execute(select(Cooperative).order_by(Cooperative.id)).scalars()]


def cooperative_id_of(session: Session, code: str) -> int:
    coop_id = session.execute(select(Cooperative.id).where(Cooperative.code == code)).scalar()
    if coop_id is None:
        raise NotFound(f"cooperative {code!r} does not exist", fields={"cooperative": ["unknown cooperative"]})
    return coop_id


def _cooperative_out(coop: Cooperative) -> dict:
    return {"id": coop.id, "code": coop.code, "name": coop.name, "timezone": coop.timezone}


def list_tokens(session: Session, *, cooperative_code: str | None = None) -> list[dict]:
    """Every token's id, role, driver, label and dates; never the token or its hash."""
    query = select(ApiToken, Cooperative.code).join(Cooperative, Cooperative.id == ApiToken.cooperative_id)
    if cooperative_code is not None:
        query = query.where(Cooperative.code == cooperative_code)
    return [{"id": t.id, "cooperative": code, "role": t.role, "driver_id": t.driver_id, "label": t.label,
             "created_at": t.created_at, "revoked_at": t.revoked_at}
            for t, code in session.execute(query.order_by(ApiToken.id))]


def revoke_token(session: Session, token_id: int) -> dict:
    """Revoke a token: refused from now on (a server that verified it lately may take it for up to 30 s)."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"token {token_id} does not exist", fields={"token": ["unknown token"]})
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return {"id": token.id, "role": token.role, "revoked_at": token.revoked_at}
