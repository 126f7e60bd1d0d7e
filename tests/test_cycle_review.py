"""Defects found in review of the supervision cycle (issue 16), each reproduced here first: office sessions that
could not be ended, a CSRF token that revealed the session cookie, a failure limiter that locked out valid links,
and the cycle rules below. The clock is fixed; the database and the web application are real."""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient
from test_cycle import TZ, at, engine, ids  # noqa: F401  (engine is a fixture)
from test_web_security import NOW, PDF, SECRET, assignment, csrf, link, site  # noqa: F401  (site is a fixture)

from tracker.cli.app import app as app_cli
from tracker.cycle import acknowledge, approve, report
from tracker.db import make_engine
from tracker.errors import CycleError
from tracker.models import Unit

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


# ---- the cycle rules (tracker.cycle) ----


def _entries(cli, day: str) -> list[tuple[str, str, str, str, str]]:
    return [(m["recipient"], e["unit"], e["item"], e["stage"], e["role"])
            for m in cli.json("remind", "--dry-run", "--today", day) for e in m["entries"]]


def test_a_unit_waiting_for_review_is_not_chased_as_overdue(seeded, engine):
    with Session(engine, expire_on_commit=False) as s:
        aid, uid = ids(s, "1.义务教育", "县教育体育局")
        waiting = report(s, aid, unit_id=uid, kind="done", by="教体局", today=dt.date(2020, 9, 21), now=at("2020-09-21"),
                         completed_on=dt.date(2020, 9, 21), evidence="武教发〔2020〕12号")
        s.commit()
    assert waiting.review == "pending"
    # 1.义务教育 is due 09-30; on 10-09 the others are overdue and escalated, the unit waiting for review is not
    found = _entries(seeded, "2020-10-09")
    assert [e for e in found if e[1] == "狮山镇人民政府" and e[2] == "1.义务教育"]  # others are still chased
    assert not [e for e in found if e[1] == "县教育体育局" and e[2] == "1.义务教育"]
    shown = {a["unit"]: a for a in seeded.json("show", "1.义务教育", "--today", "2020-10-09")["assignments"]}
    assert shown["县教育体育局"]["review"] == "pending" and shown["狮山镇人民政府"]["review"] is None
    assert "（待审核）" in seeded("show", "1.义务教育", "--today", "2020-10-09").output
    seeded("review", "return", str(waiting.id), "--reason", "缺盖章", "--by", "王主任", "--today", "2020-10-09")
    again = _entries(seeded, "2020-10-09")  # returned: open again, and chased as before
    assert [e for e in again if e[1] == "县教育体育局" and e[2] == "1.义务教育"]


def test_approval_does_not_override_the_offices_own_later_decision(seeded, engine):
    with Session(engine, expire_on_commit=False) as s:
        aid, uid = ids(s, "1.义务教育", "县教育体育局")
        waiting = report(s, aid, unit_id=uid, kind="done", by="教体局", today=dt.date(2020, 9, 21), now=at("2020-09-21"),
                         completed_on=dt.date(2020, 9, 21), evidence="武教发〔2020〕12号")
        s.commit()
    seeded("status", "1.义务教育", "--unit", "县教育体育局", "--set", "n/a", "--note", "本单位无此项工作", "--today", "2020-09-22")
    before = seeded.snapshot()
    result = seeded("review", "approve", str(waiting.id), "--by", "王主任", "--today", "2020-09-23", ok=False)
    assert result.exit_code == 1
    assert "不适用" in result.output and "tracker review return" in result.output
    assert seeded.snapshot() == before
    shown = {a["unit"]: a for a in seeded.json("show", "1.义务教育", "--today", "2020-09-23")["assignments"]}
    assert shown["县教育体育局"]["state"] == "na"
    with Session(engine, expire_on_commit=False) as s:
        with pytest.raises(CycleError, match="不适用"):
            approve(s, waiting.id, by="王主任", today=dt.date(2020, 9, 23), now=at("2020-09-23"))


def test_a_completion_date_before_the_plan_could_start_is_refused(seeded, engine):
    with Session(engine, expire_on_commit=False) as s:
        aid, uid = ids(s, "1.义务教育", "县教育体育局")
        with pytest.raises(CycleError, match="1999-01-01.*早于"):
            report(s, aid, unit_id=uid, kind="done", by="教体局", today=dt.date(2020, 9, 21), now=at("2020-09-21"),
                   completed_on=dt.date(1999, 1, 1), evidence="武教发〔2020〕12号")
        ok = report(s, aid, unit_id=uid, kind="done", by="教体局", today=dt.date(2020, 9, 21), now=at("2020-09-21"),
                    completed_on=dt.date(2020, 9, 1), evidence="武教发〔2020〕12号")
        assert ok.completed_on == dt.date(2020, 9, 1)


def test_a_refused_completion_report_leaves_no_file_behind(site):
    cli, app = site
    client = TestClient(app)
    url = link(cli, "县教育体育局")
    token = csrf(client.get(url).text)
    aid = assignment(cli, "1.义务教育", "县教育体育局")
    uploads = cli.config.parent / "uploads"
    for completed_on in ("2020-12-31", "1999-01-01"):  # in the future (today is 2020-09-22); before the plan
        refused = client.post(url + "/done", data={"csrf": token, "assignment": str(aid), "completed_on": completed_on,
                                                   "evidence": "文号"}, files=[("files", ("目录.pdf", PDF, "application/pdf"))])
        assert refused.status_code == 400 and completed_on in refused.text
        assert not uploads.exists() or list(uploads.iterdir()) == []
    done = client.post(url + "/done", data={"csrf": token, "assignment": str(aid), "completed_on": "2020-09-21", "evidence": "文号"},
                       files=[("files", ("目录.pdf", PDF, "application/pdf"))], follow_redirects=False)
    assert done.status_code == 303 and len(list(uploads.iterdir())) == 1


def test_a_unit_without_its_own_mail_gets_its_own_link_in_the_digest_that_reaches_it(seeded, engine, monkeypatch):
    import email
    from email import policy

    from tracker.models import OutboxBody, OutboxMessage

    monkeypatch.setenv("TRACKER_WEB_SECRET", "digest-secret-0123456789")
    seeded.write_config('[web]\npublic_url = "https://renwu.wuding.example"\n[mail]\ntransport = "memory"\n')
    with Session(engine) as s:
        host = s.exec(select(Unit).where(Unit.name == "县教育体育局")).one()
        guest = s.exec(select(Unit).where(Unit.name == "狮山镇人民政府")).one()
        guest.emails, guest.via_id = [], host.id  # the township's mail goes to the bureau (代收)
        s.add(guest)
        s.commit()
    seeded("run", "--once", "--today", "2020-08-31")  # 1.* due 09-30: the 30-day reminder
    with Session(engine) as s:
        recipients = s.exec(select(OutboxMessage.recipient).where(OutboxMessage.run_date == dt.date(2020, 8, 31))).all()
        [raw] = s.exec(select(OutboxBody.raw).join(OutboxMessage, OutboxMessage.id == OutboxBody.id)
                       .where(OutboxMessage.recipient == "县教育体育局", OutboxMessage.run_date == dt.date(2020, 8, 31))).all()
    assert "狮山镇人民政府" not in recipients
    message = email.message_from_string(raw, policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    own = seeded.json("links", "show", "--unit", "县教育体育局")["link"]
    theirs = seeded.json("links", "show", "--unit", "狮山镇人民政府")["link"]
    # a link is signed when it is made (its lifetime counts from then): compare the unit it names, not the signature
    same_unit = re.escape(theirs.rsplit(".", 2)[0]) + r"\.[\w-]+\.[\w-]+"
    assert own.rsplit(".", 2)[0] != theirs.rsplit(".", 2)[0]
    assert re.search("狮山镇人民政府：" + same_unit, text) and re.search(same_unit, html)
    assert re.search(re.escape(own.rsplit(".", 2)[0]), text)
    assert "请用下方“狮山镇人民政府”的链接签收此项任务" in text


def test_the_weekly_review_figures_are_as_of_the_report_day(seeded, engine):
    from notifications.weekly import render_html
    from tracker.calendar import WorkCalendar
    from tracker.models import Notice
    from tracker.queries import LightRules
    from tracker.report import build_weekly_report

    cal = WorkCalendar()
    with Session(engine, expire_on_commit=False) as s:
        aid, uid = ids(s, "1.义务教育", "县教育体育局")
        late, late_uid = ids(s, "1.义务教育", "狮山镇人民政府")
        for a in (aid, late):
            s.add(Notice(assignment_id=a, due_on=dt.date(2020, 9, 30), stage="before_30", rank=1, sent_on=dt.date(2020, 8, 31),
                         created_at=at("2020-08-31")))
        s.add(Notice(assignment_id=ids(s, "1.义务教育", "万德镇人民政府")[0], due_on=dt.date(2020, 9, 30), stage="before_7",
                     rank=2, sent_on=dt.date(2020, 9, 21), created_at=at("2020-09-21")))  # first told after the report day
        acknowledge(s, late, unit_id=late_uid, by="狮山镇", now=at("2020-09-15"))  # signed late, after the report day
        waiting = report(s, aid, unit_id=uid, kind="done", by="教体局", today=dt.date(2020, 9, 9), now=at("2020-09-09"),
                         completed_on=dt.date(2020, 9, 9), evidence="文号")
        s.commit()
        approve(s, waiting.id, by="王主任", today=dt.date(2020, 9, 16), now=at("2020-09-16"))  # decided after the report day
        s.commit()

        def figures(day: dt.date, within: int | None = 3):
            return build_weekly_report(s, day, cal, LightRules(), title="通报", tz=TZ, acknowledge_within=within)

        then = figures(dt.date(2020, 9, 11)).review  # Friday 09-11, rebuilt later
        assert then.waiting == 1  # the report of 09-09 was still waiting on 09-11
        assert ("狮山镇人民政府", "1.义务教育", dt.date(2020, 8, 31)) in then.unsigned  # it had not signed by 09-11
        assert not [u for u in then.unsigned if u[0] in ("县教育体育局", "万德镇人民政府")]
        now = figures(dt.date(2020, 9, 18)).review
        assert now.waiting == 0 and not [u for u in now.unsigned if u[0] == "狮山镇人民政府"]
        off = figures(dt.date(2020, 9, 18), within=None)
        assert off.review.signing is False and off.review.to_json()["signing"] is False
        html = render_html(off)
        assert "未启用在线签收" in html and "没有未按时签收的单位" not in html


def test_progress_runs_to_100_and_a_progress_report_carries_evidence_files(site):
    cli, app = site
    client = TestClient(app)
    url = link(cli, "县教育体育局")
    page = client.get(url)
    assert 'name="progress" min="0" max="100"' in page.text
    aid = assignment(cli, "1.义务教育", "县教育体育局")
    sent = client.post(url + "/progress", data={"csrf": csrf(page.text), "assignment": str(aid), "progress": "100",
                                                "note": "目录已编完，等待盖章", "evidence": "初稿"},
                       files=[("files", ("初稿.pdf", PDF, "application/pdf"))], follow_redirects=False)
    assert sent.status_code == 303, sent.text
    shown = {a["unit"]: a for a in cli.json("show", "1.义务教育", "--today", "2020-09-22")["assignments"]}
    assert (shown["县教育体育局"]["state"], shown["县教育体育局"]["progress"]) == ("in_progress", 100)  # done only by a report with a date
    again = client.get(url).text
    [href] = re.findall(r'href="(/u/[^"]+/files/\d+/0)"', again)
    download = client.get(href)
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/octet-stream"
    html = client.post(url + "/progress", data={"csrf": csrf(again), "assignment": str(aid), "progress": "100", "note": "n"},
                       files=[("files", ("x.html", b"<script>alert(1)</script>", "text/html"))])
    assert html.status_code == 400 and len(list((cli.config.parent / "uploads").iterdir())) == 1


def test_passwords_use_owasp_scrypt_cost_and_old_or_stronger_hashes_still_verify():
    import hashlib
    import secrets

    from tracker.accounts import hash_password, password_matches

    stored = hash_password("correct horse battery")
    kind, n, r, p, _salt, _digest = stored.split("$")
    assert kind == "scrypt" and int(n) >= 2**17 and int(r) >= 8
    assert password_matches("correct horse battery", stored) and not password_matches("wrong horse battery", stored)
    for n in (2**14, 2**18):  # a hash made before, and one made after the cost is raised again
        salt = secrets.token_bytes(16)
        digest = hashlib.scrypt(b"pw-0123456789", salt=salt, n=n, r=8, p=1, maxmem=1024**3)
        assert password_matches("pw-0123456789", f"scrypt${n}$8$1${salt.hex()}${digest.hex()}")


def test_a_disabled_account_costs_the_same_work_as_a_wrong_password(seeded, monkeypatch):
    import tracker.accounts as accounts
    from tracker.errors import AccessError

    engine = make_engine(seeded.absolute_url)
    with Session(engine) as s:
        accounts.add_user(s, "li", "correct horse battery", by="t", now=at("2020-09-01"))
        user = s.exec(select(accounts.OfficeUser).where(accounts.OfficeUser.name == "li")).one()
        user.disabled = True
        s.commit()
        calls: list[str] = []
        real = accounts.password_matches
        monkeypatch.setattr(accounts, "password_matches", lambda pw, stored: calls.append(pw) or real(pw, stored))
        with pytest.raises(AccessError, match="不正确"):
            accounts.authenticate(s, "li", "correct horse battery")
        assert calls == ["correct horse battery"]  # the hash was computed although the account is disabled
    engine.dispose()


def test_link_and_session_ages_follow_the_products_clock(site):
    from tracker.cli.context import Context
    from tracker.links import make_token
    from tracker.web.app import create_app

    cli, _app = site

    def app_at(moment: dt.datetime):
        return TestClient(create_app(Context(config_path=str(cli.config), clock=lambda: moment)))

    engine = make_engine(cli.absolute_url)
    with Session(engine) as s:
        uid = s.exec(select(Unit.id).where(Unit.name == "县教育体育局")).one()
        token = make_token(s, SECRET, uid, NOW)  # signed on 2020-09-22 by the product's clock
    engine.dispose()
    assert app_at(NOW).get(f"/u/{token}").status_code == 200
    assert app_at(NOW + dt.timedelta(days=119)).get(f"/u/{token}").status_code == 200  # link_days = 120 (default)
    expired = app_at(NOW + dt.timedelta(days=121)).get(f"/u/{token}")
    assert expired.status_code == 403 and "链接已过期" in expired.text

    client = app_at(NOW)
    login = client.get("/login")
    client.post("/login", data={"csrf": csrf(login.text), "name": "wang", "password": PASSWORD})
    cookie = client.cookies.get("tracker_session")
    for hours, allowed in ((11, True), (13, False)):  # session_hours = 12 (default)
        later = app_at(NOW + dt.timedelta(hours=hours))
        later.cookies.set("tracker_session", cookie)
        assert (later.get("/office", follow_redirects=False).status_code == 200) is allowed


def test_two_racing_submissions_cannot_leave_two_pending_rows(seeded, engine, monkeypatch):
    import tracker.cycle as cycle
    from sqlalchemy.exc import IntegrityError

    from tracker.models import ExtensionRequest, UnitReport

    with Session(engine, expire_on_commit=False) as s:
        aid, uid = ids(s, "1.义务教育", "县教育体育局")
        first = report(s, aid, unit_id=uid, kind="done", by="教体局", today=dt.date(2020, 9, 21), now=at("2020-09-21"),
                       completed_on=dt.date(2020, 9, 21), evidence="文号")
        s.commit()
    assert first.review == "pending"
    monkeypatch.setattr(cycle, "_pending", lambda session, assignment_id: None)  # the other request's row was not yet visible
    with Session(engine, expire_on_commit=False) as s:
        with pytest.raises(CycleError, match="已有完成情况在等待"):
            report(s, aid, unit_id=uid, kind="done", by="教体局", today=dt.date(2020, 9, 21), now=at("2020-09-21"),
                   completed_on=dt.date(2020, 9, 21), evidence="文号（第二个窗口）")
        s.rollback()
        assert len(s.exec(select(UnitReport).where(UnitReport.assignment_id == aid)).all()) == 1
        row = dict(assignment_id=aid, current_due=dt.date(2020, 9, 30), proposed_due=dt.date(2020, 10, 30), reason="r",
                   requested_at=at("2020-09-21"), requested_by="x")
        s.add(ExtensionRequest(**row))
        s.commit()
        s.add(ExtensionRequest(**row))
        with pytest.raises(IntegrityError):
            s.commit()
