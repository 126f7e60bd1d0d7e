"""The web application at request level: the unit's page, the office's pages, the API, and every refusal the issue
lists (forged and rotated links, another unit's assignment, missing CSRF, script in a note and a file name, oversized
and .html uploads, path traversal in a file name, rate-limited bad links). The clock is fixed; the database is real."""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from tracker.cli.app import app as app_cli
from tracker.cli.context import Context
from tracker.db import make_engine
from tracker.models import Assignment, Item, Unit
from tracker.web.app import create_app

SECRET = "test-secret-0123456789abcdef"
NOW = dt.datetime(2020, 9, 22, 2, 0, tzinfo=dt.timezone.utc)  # 10:00 in Beijing
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def site(seeded, monkeypatch, tmp_path):
    monkeypatch.setenv("TRACKER_WEB_SECRET", SECRET)
    seeded.write_config('[web]\npublic_url = "http://testserver"\nmax_upload_mb = 0.01\nfailed_token_limit = 5\n'
                        'upload_folder = "uploads"\n')
    result = seeded.runner.invoke(app_cli,
                                  ["--config", str(seeded.config), "users", "add", "wang", "--password-stdin"],
                                  input="correct horse battery\n")
    assert result.exit_code == 0, result.output
    app = create_app(Context(config_path=str(seeded.config), clock=lambda: NOW))
    return seeded, app


def link(cli, unit: str) -> str:
    return cli.json("links", "show", "--unit", unit, "--today", NOW.date().isoformat())["link"].removeprefix("http://testserver")


def assignment(cli, key: str, unit: str) -> int:
    engine = make_engine(cli.absolute_url)
    with Session(engine) as s:
        found = s.exec(select(Assignment.id).join(Item).join(Unit, Unit.id == Assignment.unit_id)
                       .where(Item.key == key, Unit.name == unit, Assignment.role == "principal")).one()
    engine.dispose()
    return found


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_the_unit_page_shows_only_its_own_work_and_signs(site):
    cli, app = site
    client = TestClient(app)
    url = link(cli, "县教育体育局")
    page = client.get(url)
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "县教育体育局" in page.text and "1.义务教育" in page.text
    assert "狮山镇人民政府" not in page.text  # item 1.义务教育 has 12 units; this page shows one
    aid = assignment(cli, "1.义务教育", "县教育体育局")
    signed = client.post(url + "/ack", data={"csrf": csrf(page.text), "assignment": str(aid)}, follow_redirects=False)
    assert signed.status_code == 303
    again = client.get(signed.headers["location"])
    assert "已签收。" in again.text
    history = cli.json("history", "1.义务教育", "--unit", "县教育体育局")
    assert [(h["action"], h["by"], h["at"]) for h in history] == [("acknowledge", "县教育体育局（网页）", "2020-09-22T10:00:00+08:00")]


def test_forged_rotated_and_rate_limited_links(site):
    cli, app = site
    client = TestClient(app)
    url = link(cli, "县教育体育局")
    token = url.rsplit("/", 1)[1]
    forged = "/u/" + token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert client.get(forged).status_code == 403
    other_secret_token = "/u/eyJ1IjoxLCJnIjoxfQ.X2xqQQ.bad"
    assert client.get(other_secret_token).status_code == 403
    cli("links", "rotate", "--unit", "县教育体育局")
    assert client.get(url).status_code == 403  # the old link is dead
    fresh = link(cli, "县教育体育局")
    assert client.get(fresh).status_code == 200
    for _ in range(2):  # 5 failures so far; the limit is 5
        client.get(forged)
    blocked = client.get(forged)
    assert blocked.status_code == 429 and "尝试次数过多" in blocked.text
    assert client.get(fresh).status_code == 200  # a valid link is never locked out (units share one NAT address)


def test_another_units_assignment_and_missing_csrf_are_refused(site):
    cli, app = site
    client = TestClient(app)
    url = link(cli, "县教育体育局")
    page = client.get(url).text
    theirs = assignment(cli, "1.义务教育", "狮山镇人民政府")
    before = cli.snapshot()
    refused = client.post(url + "/ack", data={"csrf": csrf(page), "assignment": str(theirs)})
    assert refused.status_code == 403 and "没有找到编号" in refused.text
    mine = assignment(cli, "1.义务教育", "县教育体育局")
    no_csrf = client.post(url + "/ack", data={"assignment": str(mine)})
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
    other_page = client.get(link(cli, "狮山镇人民政府")).text  # a token from another unit's page
    wrong_csrf = client.post(url + "/ack", data={"csrf": csrf(other_page), "assignment": str(mine)})
    assert wrong_csrf.status_code == 403
    assert cli.snapshot() == before


def test_script_in_a_note_and_in_a_file_name_is_shown_as_text(site):
    cli, app = site
    client = TestClient(app)
    url = link(cli, "县教育体育局")
    aid = assignment(cli, "1.义务教育", "县教育体育局")
    token = csrf(client.get(url).text)
    note = "<script>alert(1)</script>"
    assert client.post(url + "/progress", data={"csrf": token, "assignment": str(aid), "progress": "30", "note": note},
                       follow_redirects=False).status_code == 303
    done = client.post(url + "/done", data={"csrf": token, "assignment": str(aid), "completed_on": "2020-09-21",
                                            "evidence": "武教发〔2020〕12号", "note": ""},
                       files=[("files", ('<img src=x onerror=alert(1)>.pdf', PDF, "application/pdf"))], follow_redirects=False)
    assert done.status_code == 303
    page = client.get(url).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "_img src=x onerror=alert(1)_.pdf" in page


def test_uploads_are_limited_in_size_and_type_and_cannot_choose_their_path(site, tmp_path):
    cli, app = site
    client = TestClient(app)
    url = link(cli, "县教育体育局")
    aid = assignment(cli, "1.义务教育", "县教育体育局")
    token = csrf(client.get(url).text)
    form = {"csrf": token, "assignment": str(aid), "completed_on": "2020-09-21", "evidence": "文号"}
    uploads = cli.home / "uploads"

    big = client.post(url + "/done", data=form, files=[("files", ("big.pdf", PDF + b"0" * 20000, "application/pdf"))])
    assert big.status_code == 400 and "超过上限" in big.text
    html = client.post(url + "/done", data=form, files=[("files", ("page.html", b"<html><script>x</script>", "text/html"))])
    assert html.status_code == 400 and ".html 不能上传" in html.text
    disguised = client.post(url + "/done", data=form, files=[("files", ("page.pdf", b"<html><script>x</script>", "application/pdf"))])
    assert disguised.status_code == 400 and "不是 .pdf 文件" in disguised.text
    assert not uploads.exists() or list(uploads.iterdir()) == []
    assert cli.json("review", "list") == []

    sneaky = client.post(url + "/done", data=form, files=[("files", ("../../../escape.pdf", PDF, "application/pdf"))],
                         follow_redirects=False)
    assert sneaky.status_code == 303
    assert not (cli.home.parent / "escape.pdf").exists() and not (cli.home / "escape.pdf").exists()
    [stored] = list(uploads.iterdir())
    assert re.fullmatch(r"[0-9a-f]{64}", stored.name) and stored.read_bytes() == PDF
    [queued] = cli.json("review", "list")
    assert [f["name"] for f in queued["files"]] == ["escape.pdf"]
    download = client.get(f"{url}/files/{queued['id']}/0")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"
    # another unit cannot fetch it by guessing the report id
    assert client.get(f"{link(cli, '狮山镇人民政府')}/files/{queued['id']}/0").status_code == 403


def test_office_login_review_extensions_and_api(site):
    cli, app = site
    client = TestClient(app)
    assert client.get("/office", follow_redirects=False).headers["location"] == "/login"
    login = client.get("/login")
    assert client.post("/login", data={"name": "wang", "password": "correct horse battery"}).status_code == 403  # no CSRF
    wrong = client.post("/login", data={"csrf": csrf(login.text), "name": "wang", "password": "wrong password!"})
    assert wrong.status_code == 403 and "不正确" in wrong.text
    ok = client.post("/login", data={"csrf": csrf(login.text), "name": "wang", "password": "correct horse battery"},
                     follow_redirects=False)
    assert ok.status_code == 303
    dashboard = client.get("/office?light=yellow")
    assert dashboard.status_code == 200 and "1.义务教育" in dashboard.text

    unit = TestClient(app)
    url = link(cli, "县教育体育局")
    aid = assignment(cli, "1.义务教育", "县教育体育局")
    token = csrf(unit.get(url).text)
    unit.post(url + "/done", data={"csrf": token, "assignment": str(aid), "completed_on": "2020-09-21", "evidence": "文号"},
              files=[("files", ("目录.pdf", PDF, "application/pdf"))])
    unit.post(url + "/extension", data={"csrf": token, "assignment": str(assignment(cli, "5", "县教育体育局")),
                                        "to": "2021-01-31", "reason": "需要协调"})
    reviews = client.get("/office/reviews")
    assert "目录.pdf" in reviews.text
    report_id = cli.json("review", "list")[0]["id"]
    assert client.post(f"/office/reviews/{report_id}/return", data={"reason": "缺盖章"}).status_code == 403  # no CSRF
    returned = client.post(f"/office/reviews/{report_id}/return", data={"csrf": csrf(reviews.text), "reason": "缺盖章"},
                           follow_redirects=False)
    assert returned.status_code == 303
    assert "缺盖章" in unit.get(url).text
    extensions = client.get("/office/extensions")
    request_id = cli.json("extension", "list")[0]["id"]
    assert client.post(f"/office/extensions/{request_id}/grant", data={"csrf": csrf(extensions.text)},
                       follow_redirects=False).status_code == 303
    assert cli.json("extension", "list", "--all")[0]["decision"] == "granted"
    item = client.get("/office/items/1.义务教育")
    assert item.status_code == 200 and "缺盖章" in item.text and "目录.pdf" in item.text
    assert "八、审核与签收" in client.get("/office/report").text

    api = TestClient(app)
    assert api.get("/api/items").status_code == 401
    auth = {"Authorization": "Basic " + base64.b64encode("wang:correct horse battery".encode()).decode()}
    items = api.get("/api/items?unit=县教育体育局", headers=auth).json()
    [plan] = items["plans"]
    assert {a["unit"] for i in plan["items"] for a in i["assignments"]} == {"县教育体育局"}
    assert api.get("/api/report", headers=auth).json()["review"]["returned_this_week"] == 1
    mine = api.get("/api/unit/" + url.rsplit("/", 1)[1]).json()
    task = next(t for t in mine["plans"][0]["tasks"] if t["item"] == "1.义务教育")
    assert task["returned_reason"] == "缺盖章" and task["acknowledged_at"] == "2020-09-22T10:00:00+08:00"
