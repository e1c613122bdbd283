"""Exceptions that name a fact, under a few bases. One place (supply.api.errors) maps them to HTTP."""
from __future__ import annotations


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None, code: str | None = None,
                 details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields
        self.details = details
        if code:
            self.code = code


class InvalidInput(DomainError):
    code = "invalid_input"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class Forbidden(DomainError):
    code = "forbidden"


class Unauthorized(DomainError):
    code = "unauthorized"


class UnknownSku(InvalidInput):
    code = "unknown_sku"


class InsufficientStock(Conflict):
    """Stock is short; `details` lists the short lines."""

    code = "insufficient_stock"


class ConflictingDuplicate(Conflict):
    code = "conflicting_duplicate"


class BelowReserved(Conflict):
    code = "below_reserved"


class ServiceUnavailable(DomainError):
    """A dependency (the database) is down: the client should retry."""

    code = "service_unavailable"
