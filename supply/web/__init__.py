"""Pages for people: the driver's phone, the host's live stock, the manager's console.

Server-rendered Jinja pages with small scripts, every asset served from this package (no CDN), in
Simplified Chinese by default (English by a switch). Pages call the same services as the API, never
HTTP. Sign-in opens a session kept server-side (supply.services.web); forms carry a CSRF token.
"""
from __future__ import annotations

import os

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()


class _SessionInterface(SecureCookieSessionInterface):
    """The signed session cookie: its key is read from the database on first use (shared by every
    worker) unless COOP_SECRET_KEY is set; Secure whenever the request came over TLS."""

    def get_signing_serializer(self, app: Flask):
        if not app.secret_key:
            from supply.domain.errors import ServiceUnavailable
            from supply.services.web import secret_key

            try:
                with app.extensions["coop"].db.transaction() as session:
                    app.secret_key = secret_key(session)
            except ServiceUnavailable:
                # No key while the database is away: the request goes on without a session (pages
                # then ask to sign in; /healthz and /readyz still answer).
                return None
        return super().get_signing_serializer(app)

    def open_session(self, app: Flask, request):
        # The API, health and metrics never use the session: they neither read the key nor a cookie.
        if not _is_page(request.path):
            return self.session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        from flask import request

        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


_NOT_PAGES = ("/api/", "/healthz", "/readyz", "/metrics")


def _is_page(path: str) -> bool:
    return not path.startswith(_NOT_PAGES)


def init_web(app: Flask) -> None:
    """Register the pages on the app made by supply.app.create_app."""
    from supply.web import console, driver, host, pages
    from supply.web.i18n import install_i18n

    app.secret_key = app.secret_key or os.environ.get("COOP_SECRET_KEY") or None
    app.session_interface = _SessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME="coop_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Only the pages' forms are checked (the API authenticates by bearer token, not cookie).
        WTF_CSRF_CHECK_DEFAULT=False,
        # A driver's queued marks are sent hours later with the token of the page they were made on.
        WTF_CSRF_TIME_LIMIT=None,
    )
    csrf.init_app(app)
    install_i18n(app)
    for module in (pages, driver, host, console):
        app.register_blueprint(module.bp)
