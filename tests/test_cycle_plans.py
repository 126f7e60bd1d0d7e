"""The supervision cycle with several plans in one database (issues 14 and 16 together): a unit's page groups its
tasks by plan, a report and its review change only the plan they are about, queues name items CODE:KEY, and the
weekly report's review figures follow ``--plan``.

The three plans are those of tests/test_many_plans.py: the seed (zwgk2020), the business-environment plan (yshj2020,
where 县教育体育局's item 2 is 推进教育收费公开) and the work report (gzbg2020); 县教育体育局 has work in all three, and
item 2 exists in each, so a bare "2" is ambiguous.
"""

from __future__ import annotations

import datetime as dt
import email
from email import policy

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from tests.test_cycle import CAL, at
from tests.test_many_plans import three  # noqa: F401  (the fixture)
from tests.test_web_security import NOW, SECRET, csrf
from tracker.cli.app import app as app_cli
from tracker.cli.context import Context
from tracker.cycle import extension_queue, report, request_extension, review_queue, unit_tasks
from tracker.db import make_engine
from tracker.errors import AccessError, CycleError
from tracker.models import Assignment, Item, Plan, Unit
from tracker.queries import LightRules
from tracker.web.app import create_app


def _ids(session: Session, code: str, key: str, unit: str) -> tuple[int, int]:
    row = session.exec(select(Assignment.id, Assignment.unit_id).join(Item).join(Plan, Plan.id == Item.plan_id)
                       .join(Unit, Unit.id == Assignment.unit_id)
                       .where(Plan.code == code, Item.key == key, Unit.name == unit, Assignment.role == "principal")).one()
    return row[0], row[1]


def test_a_units_page_groups_by_plan_and_a_review_changes_only_its_plan(three):  # noqa: F811
    engine = make_engine(three.absolute_url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            aid, uid = _ids(s, "yshj2020", "2", "县教育体育局")
            groups = unit_tasks(s, uid, dt.date(2020, 9, 23), CAL, LightRules())
            titles = {p.code: p.title or p.code for p in s.exec(select(Plan)).all()}
            assert [g.title for g in groups] == [titles["zwgk2020"], titles["yshj2020"], titles["gzbg2020"]]
            for group, code in zip(groups, ("zwgk2020", "yshj2020", "gzbg2020")):
                assert group.tasks and {t.item.plan for t in group.tasks} == {code}
            assert [t.view.id for t in groups[1].tasks] == [aid]
            done = report(s, aid, unit_id=uid, kind="done", by="教体局 李明", today=dt.date(2020, 9, 22),
                          now=at("2020-09-22"), completed_on=dt.date(2020, 9, 21), evidence="收费公示照片")
            s.commit()
        [queued] = three.json("review", "list")
        assert (queued["id"], queued["item"], queued["unit"]) == (done.id, "yshj2020:2", "县教育体育局")
        whole = three.json("report", "weekly", "--today", "2020-09-23", "--json")
        narrowed = three.json("report", "weekly", "--today", "2020-09-23", "--plan", "zwgk2020", "--json")
        assert (whole["review"]["waiting_for_review"], narrowed["review"]["waiting_for_review"]) == (1, 0)
        three("review", "approve", str(done.id), "--by", "王主任", "--today", "2020-09-23")
        approved = {a["unit"]: a for a in three.json("show", "yshj2020:2", "--today", "2020-09-23")["assignments"]}
        assert (approved["县教育体育局"]["state"], approved["县教育体育局"]["completed_on"]) == ("done", "2020-09-21")
        other = {a["unit"]: a for a in three.json("show", "zwgk2020:2", "--today", "2020-09-23")["assignments"]}
        assert all(a["state"] != "done" for a in other.values())  # the seed's item 2 is untouched
        journal = three.json("history", "yshj2020:2")
        assert any(e["action"] == "review_approve" and e["by"] == "王主任" for e in journal)
        assert not any(e["action"].startswith("review") for e in three.json("history", "zwgk2020:2"))
    finally:
        engine.dispose()


def test_a_completion_date_is_checked_against_the_items_own_plan(three):  # noqa: F811
    engine = make_engine(three.absolute_url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            for code, day in (("zwgk2020", dt.date(2020, 1, 1)), ("gzbg2020", dt.date(2020, 9, 1))):
                plan = s.exec(select(Plan).where(Plan.code == code)).one()
                plan.starts_on = day
                s.add(plan)
            s.commit()
            aid, uid = _ids(s, "gzbg2020", "1-1", "县教育体育局")
            with pytest.raises(CycleError, match="2020-09-01"):  # before its own plan began, though after the seed's
                report(s, aid, unit_id=uid, kind="done", by="教体局", today=dt.date(2020, 9, 22), now=at("2020-09-22"),
                       completed_on=dt.date(2020, 8, 15), evidence="文号")
            s.rollback()
            seed_aid, _ = _ids(s, "zwgk2020", "1.义务教育", "县教育体育局")  # the seed's own start allows it
            assert report(s, seed_aid, unit_id=uid, kind="done", by="教体局", today=dt.date(2020, 9, 22),
                          now=at("2020-09-22"), completed_on=dt.date(2020, 8, 15), evidence="文号").review == "pending"
    finally:
        engine.dispose()


def test_an_archived_plan_leaves_the_queues_takes_no_reports_and_keeps_its_page(three, monkeypatch):  # noqa: F811
    engine = make_engine(three.absolute_url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            aid, uid = _ids(s, "yshj2020", "2", "县教育体育局")
            other, _ = _ids(s, "yshj2020", "1", "县财政局")
            finance = s.exec(select(Unit.id).where(Unit.name == "县财政局")).one()
            report(s, aid, unit_id=uid, kind="done", by="教体局", today=dt.date(2020, 9, 22), now=at("2020-09-22"),
                   completed_on=dt.date(2020, 9, 21), evidence="收费公示")
            request_extension(s, other, unit_id=finance, by="财政局", to=dt.date(2020, 10, 30), reason="等待审计",
                              today=dt.date(2020, 9, 22), now=at("2020-09-22"), calendar=CAL)
            s.commit()
            assert len(review_queue(s)) == 1 and len(extension_queue(s)) == 1
        three("plans", "archive", "yshj2020")
        with Session(engine, expire_on_commit=False) as s:
            assert review_queue(s) == [] and extension_queue(s) == []  # as the weekly report counts: active plans only
            with pytest.raises(AccessError):
                report(s, aid, unit_id=uid, kind="progress", by="教体局", today=dt.date(2020, 9, 23), now=at("2020-09-23"),
                       progress=50, note="已完成一半")
        assert three.json("report", "weekly", "--today", "2020-09-23", "--json")["review"]["waiting_for_review"] == 0
        monkeypatch.setenv("TRACKER_WEB_SECRET", SECRET)
        three.write_config('[web]\npublic_url = "http://testserver"\n')
        added = three.runner.invoke(app_cli, ["--config", str(three.config), "users", "add", "wang", "--password-stdin"],
                                    input="correct horse battery\n")
        assert added.exit_code == 0, added.output
        client = TestClient(create_app(Context(config_path=str(three.config), clock=lambda: NOW)))
        login = client.get("/login")
        client.post("/login", data={"csrf": csrf(login.text), "name": "wang", "password": "correct horse battery"})
        page = client.get("/office/items/yshj2020:2")
        assert page.status_code == 200 and "推进教育收费公开" in page.text  # the archived plan's history stays readable
    finally:
        engine.dispose()


def test_a_digest_names_items_code_key_whenever_there_are_several_plans():
    """An escalation whose entries all come from one plan still says which plan, as the 通报 does: item 2 exists in
    several plans, and the title alone is not an address a clerk can type."""
    from notifications.render import render_digest
    from tracker.reminders import Digest, DigestEntry

    late = DigestEntry("2", "推进教育收费公开", "县财政局", "lead", "overdue-1", dt.date(2020, 10, 31), -3, "red",
                       escalation=True, plan="yshj2020", plan_title="优化营商环境")
    for several, shown in ((True, "yshj2020:2"), (False, "事项 2")):
        digest = Digest("县教育体育局", ["jy@wuding.example"], dt.date(2020, 11, 3), [late], several_plans=several)
        message = render_digest(digest, sender="office@wuding.example", now=at("2020-11-03"), county="武定县",
                                prefix="", warnings=[])
        parsed = email.message_from_string(message.raw, policy=policy.default)
        text = parsed.get_body(("plain",)).get_content()
        assert shown in text and (several or "yshj2020:2" not in text)
