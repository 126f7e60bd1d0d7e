"""Defects found in review of the supervision cycle (issue 16), each reproduced here first: office sessions that
could not be ended, a CSRF token that revealed the session cookie, a failure limiter that locked out valid links,
and the cycle rules below. The clock is fixed; the database and the web application are real."""

from __future__ import annotations

import base64
import json
import re

from starlette.testclient import TestClient
from test_web_security import NOW, PDF, SECRET, assignment, csrf, link, site  # noqa: F401  (site is a fixture)

from tracker.cli.app import app as app_cli

PASSWORD = "correct horse battery"


def _login(app) -> tuple[TestClient, str]:
    client = TestClient(app)
    login = client.get("/login")
    ok = client.post("/login", data={"csrf": csrf(login.text), "name": "wang", "password": PASSWORD}, follow_redirects=False)
    assert ok.status_code == 303
    return client, client.cookies.get("tracker_session")


def _payload(signed: str) -> str:
    """What anyone can read from an itsdangerous token: it is signed, not encrypted."""
    body = signed.split(".")[0]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8", "replace")


def test_the_csrf_token_does_not_reveal_the_session_cookie(site):
    cli, app = site
    client, cookie = _login(app)
    token = csrf(client.get("/office/reviews").text)
    assert cookie and cookie not in _payload(token) and cookie.split(".")[0] not in _payload(token)


def test_logout_ends_the_session_and_an_old_cookie_is_refused(site):
    cli, app = site
    client, cookie = _login(app)
    page = client.get("/office/reviews")
    assert page.status_code == 200
    out = client.post("/logout", data={"csrf": csrf(page.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    thief = TestClient(app)
    thief.cookies.set("tracker_session", cookie)
    refused = thief.get("/office", follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/login"


def test_a_password_reset_ends_every_session_signed_in_with_the_old_password(site):
    cli, app = site
    client, _cookie = _login(app)
    assert client.get("/office", follow_redirects=False).status_code == 200
    result = cli.runner.invoke(app_cli, ["--config", str(cli.config), "users", "add", "wang", "--reset", "--password-stdin"],
                               input="another long password\n")
    assert result.exit_code == 0, result.output
    assert client.get("/office", follow_redirects=False).headers["location"] == "/login"


def test_bad_links_from_a_shared_address_never_lock_out_a_valid_link(site):
    cli, app = site
    client = TestClient(app)  # every request comes from the same address, as behind a government NAT
    url = link(cli, "县教育体育局")
    bad = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
    answers = [client.get(bad).status_code for _ in range(20)]
    assert answers[:5] == [403] * 5 and set(answers[5:]) == {429}  # failures are limited (failed_token_limit = 5)
    page = client.get(url)
    assert page.status_code == 200 and "县教育体育局" in page.text
    signed = client.post(url + "/ack", data={"csrf": csrf(page.text), "assignment": str(assignment(cli, "1.义务教育", "县教育体育局"))},
                         follow_redirects=False)
    assert signed.status_code == 303


def test_the_limiter_forgets_addresses_whose_failures_have_expired():
    from tracker.web.security import FailureLimiter

    limiter = FailureLimiter(3, window=-1)  # every failure is already outside the window when next looked at
    for n in range(50):
        limiter.fail(f"10.0.0.{n}")
        assert not limiter.blocked(f"10.0.0.{n}")
    assert len(limiter) == 0
    kept = FailureLimiter(3)
    for _ in range(3):
        kept.fail("10.0.0.1")
    assert kept.blocked("10.0.0.1") and not kept.blocked("10.0.0.2") and len(kept) == 1
