"""The supervision cycle with several plans in one database (issues 14 and 16 together): a unit's page groups its
tasks by plan, a report and its review change only the plan they are about, queues name items CODE:KEY, and the
weekly report's review figures follow ``--plan``.

The three plans are those of tests/test_many_plans.py: the seed (zwgk2020), the business-environment plan (yshj2020,
where 县教育体育局's item 2 is 推进教育收费公开) and the work report (gzbg2020); 县教育体育局 has work in all three, and
item 2 exists in each, so a bare "2" is ambiguous.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from tests.test_cycle import CAL, at
from tests.test_many_plans import three  # noqa: F401  (the fixture)
from tracker.cycle import report, unit_tasks
from tracker.db import make_engine
from tracker.models import Assignment, Item, Plan, Unit
from tracker.queries import LightRules


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
