"""Signing in to the pages: tokens and links, sessions kept server-side, CSRF on every form."""
from __future__ import annotations

from datetime import timedelta

from supply.services.web import create_link, revoke_link
from tests.conftest import auth
from tests.web.conftest import csrf_of, post_form, sign_in


def _link(db, **kwargs) -> dict:
    with db.transaction() as session:
        return create_link(session, 1, **kwargs)


def test_a_manager_signs_in_with_the_token_and_keeps_a_session_cookie_that_scripts_cannot_read(client, tokens):
    response = sign_in(client, tokens["manager"])
    assert response.status_code == 302 and response.headers["Location"].endswith("/m/")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("coop_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = client.get("/m/")
    assert page.status_code == 200 and "今日概况" in page.get_data(as_text=True)


def test_behind_tls_the_session_cookie_is_secure(client, tokens):
    page = client.get("/signin", base_url="https://coop.example")
    response = client.post("/signin", base_url="https://coop.example", headers={"Referer": "https://coop.example/signin"},
                           data={"token": tokens["manager"], "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert response.status_code == 302
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("coop_session="))
    assert "Secure" in cookie


def test_a_wrong_token_is_refused_in_chinese_and_opens_nothing(client, tokens):
    response = sign_in(client, "coop_not-a-token")
    assert response.status_code == 401 and "令牌无效" in response.get_data(as_text=True)
    assert client.get("/m/").status_code == 302


def test_a_form_without_its_csrf_token_is_refused(client, tokens):
    response = client.post("/signin", data={"token": tokens["manager"]})
    assert response.status_code == 400
    assert client.get("/m/").status_code == 302
    sign_in(client, tokens["manager"])
    assert client.post("/signout").status_code == 400
    assert client.get("/m/").status_code == 200


def test_a_visitor_is_sent_to_sign_in_and_a_host_is_refused_the_console(client, tokens):
    response = client.get("/m/")
    assert response.status_code == 302 and "/signin?next=/m/" in response.headers["Location"]
    sign_in(client, tokens["host"])
    assert client.get("/m/").status_code == 403
    assert client.get("/h/").status_code == 200


def test_a_driver_link_signs_the_driver_in_until_it_is_revoked(client, db, tokens):
    link = _link(db, role="driver", driver_id=tokens["driver_id"])
    response = client.get(f"/s/{link['token']}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/d/")
    assert client.get("/d/").status_code == 200
    # The QR code is scanned again on another phone: a driver's link is reusable until it expires.
    other = client.application.test_client()
    assert other.get(f"/s/{link['token']}").status_code == 302
    with db.transaction() as session:
        revoke_link(session, 1, link["id"])
    assert client.get("/d/").status_code == 302
    assert other.get("/d/").status_code == 302
    assert client.application.test_client().get(f"/s/{link['token']}").status_code == 401


def test_an_expired_link_signs_no_one_in(client, db, tokens):
    link = _link(db, role="driver", driver_id=tokens["driver_id"], ttl=timedelta(minutes=1))
    from supply.db.models import WebLink

    with db.transaction() as session:
        row = session.get(WebLink, link["id"])
        row.expires_at = row.created_at - timedelta(seconds=1)
    response = client.get(f"/s/{link['token']}")
    assert response.status_code == 401 and "链接无效" in response.get_data(as_text=True)


def test_a_managers_one_time_link_works_once(client, db, tokens):
    link = _link(db, role="manager")
    assert client.get(f"/s/{link['token']}").status_code == 302
    assert client.get("/m/").status_code == 200
    assert client.application.test_client().get(f"/s/{link['token']}").status_code == 401


def test_signing_out_ends_the_session_even_for_a_copied_cookie(client, tokens):
    sign_in(client, tokens["manager"])
    cookie = client.get_cookie("coop_session").value
    response = post_form(client, "/signout", {}, page="/m/")
    assert response.status_code == 302
    thief = client.application.test_client()
    thief.set_cookie("coop_session", cookie)
    assert thief.get("/m/").status_code == 302


def test_a_revoked_token_ends_the_sessions_it_opened(client, db, tokens):
    from supply.db.models import ApiToken

    sign_in(client, tokens["manager"])
    with db.transaction() as session:
        for row in session.query(ApiToken).filter_by(role="manager"):
            row.revoked_at = row.created_at
    assert client.get("/m/").status_code == 302


def test_the_api_still_wants_its_bearer_token_and_ignores_the_session(client, tokens):
    sign_in(client, tokens["manager"])
    assert client.get("/api/v1/pickups").status_code == 401
    assert client.get("/api/v1/pickups", headers=auth(tokens["manager"])).status_code == 200


def test_sign_in_sends_on_only_to_paths_of_this_site(client, tokens):
    page = client.get("/signin?next=https://evil.example/")
    response = client.post("/signin", data={"token": tokens["manager"], "next": "//evil.example/",
                                            "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert response.headers["Location"].endswith("/m/")


def test_english_is_a_switch_away_and_stays_chosen(client):
    assert "登录" in client.get("/signin").get_data(as_text=True)
    english = client.get("/signin?lang=en")
    assert "Sign in" in english.get_data(as_text=True) and "登录" not in english.get_data(as_text=True)
    assert "Sign in" in client.get("/signin").get_data(as_text=True)


def test_pages_allow_scripts_only_from_the_site_and_refuse_framing(client, tokens):
    page = client.get("/signin")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in page.get_data(as_text=True)  # no inline script for the policy to refuse


def test_the_api_neither_reads_nor_sets_the_pages_session_cookie(client, tokens):
    sign_in(client, tokens["manager"])
    response = client.get("/api/v1/pickups", headers=auth(tokens["manager"]))
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    assert "Set-Cookie" not in client.get("/healthz").headers
