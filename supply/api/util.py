from __future__ import annotations

from flask import g


def coop_id() -> int:
    return g.principal.cooperative_id


def actor() -> str:
    return g.principal.actor
