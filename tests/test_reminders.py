import datetime as dt
import email
import json
import os
import signal
import subprocess
import sys
from email import policy

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from tests.conftest import use_smtp, wait_for
from tests.smtp_server import Recorder, SmtpServer, free_port
from tracker.calendar import WorkCalendar
from tracker.models import OutboxMessage
from tracker.reminders import Policy, latest_stage, stages_until

D = dt.date
CAL = WorkCalendar()


def stage(due, today):
    found = latest_stage(due, today, CAL, Policy())
    return (found.name, found.send_on) if found else None


def test_stages_follow_the_official_calendar():
    due = D(2020, 9, 30)
    assert [(s.name, s.send_on) for s in stages_until(due, D(2020, 10, 16), CAL, Policy())] == [
        ("before-30", D(2020, 8, 31)), ("before-14", D(2020, 9, 16)), ("before-7", D(2020, 9, 23)),
        ("before-3", D(2020, 9, 27)),  # a Sunday that was a make-up working day
        ("before-1", D(2020, 9, 29)), ("due", D(2020, 9, 30)),
        ("overdue-1", D(2020, 10, 9)),  # Oct 1-8 is the National Day holiday
        ("overdue-2", D(2020, 10, 16)),
    ]
    assert stage(due, D(2020, 10, 5)) == ("due", D(2020, 9, 30))  # nothing new during the holiday


def test_a_saturday_deadline_is_reminded_on_friday_and_overdue_on_monday():
    due = D(2020, 10, 31)
    assert stage(due, D(2020, 10, 30)) == ("due", D(2020, 10, 30))  # before-1 and due fall on Friday: due wins
    assert stage(due, D(2020, 11, 2)) == ("overdue-1", D(2020, 11, 2))
    assert stage(due, D(2020, 10, 16)) == ("before-14", D(2020, 10, 16))  # Oct 17 is a Saturday
    assert stage(due, D(2020, 9, 30)) == ("before-30", D(2020, 9, 30))  # Oct 1 is a holiday


def test_after_downtime_only_the_latest_stage_is_sent(seeded):
    first = seeded.json("remind", "--dry-run", "--today", "2020-09-29")
    stages = {e["stage"] for m in first for e in m["entries"]}
    assert stages == {"before-1"}
    seeded("run", "--once", "--today", "2020-09-29")
    assert seeded.json("remind", "--dry-run", "--today", "2020-09-29") == []


def test_dry_run_json_and_escalation(seeded):
    seeded("status", "1.义务教育", "--unit", "狮山镇", "--set", "done", "--on", "2020-09-28", "--today", "2020-10-09")
    before = seeded.snapshot()
    messages = seeded.json("remind", "--dry-run", "--today", "2020-10-09")
    assert seeded.snapshot() == before
    by = {m["recipient"]: m for m in messages}
    assert len(messages) == 30
    edu = by["县教育体育局"]
    assert edu["to"] == ["jtj@wuding.example"]
    assert edu["subject"] == "【政务公开任务提醒】县教育体育局：1项即将到期，1项已逾期，督办10个单位逾期"
    own = [e for e in edu["entries"] if e["role"] == "principal"]
    assert own == [{"plan": "zwgk2020", "item": "1.义务教育", "occurrence": None, "unit": "县教育体育局", "role": "principal", "stage": "overdue-1",
                    "due": "2020-09-30"},
                   {"plan": "zwgk2020", "item": "2", "occurrence": None, "unit": "县教育体育局", "role": "principal", "stage": "before-30",
                    "due": "2020-10-31"}]
    guided = sorted(e["unit"] for e in edu["entries"] if e["role"] == "guiding")
    assert len(guided) == 10 and "狮山镇人民政府" not in guided
    office = by["县政府办公室"]
    late = {(e["item"], e["unit"]) for e in office["entries"] if e["role"] in ("lead", "county_office")}
    assert len(late) == 216 - 1
    assert all(e["stage"] == "overdue-1" for e in by["狮山镇人民政府"]["entries"] if e["item"].startswith("1."))
    assert len([e for e in by["狮山镇人民政府"]["entries"] if e["item"].startswith("1.")]) == 17


def test_villages_are_reached_through_their_township(seeded):
    seeded("units", "add", "狮山镇东村村民委员会", "--parent", "狮山镇")
    messages = {m["recipient"]: m for m in seeded.json("remind", "--dry-run", "--today", "2021-12-01")}
    shishan = messages["狮山镇人民政府"]
    assert {(e["item"], e["unit"]) for e in shishan["entries"]} >= {("12", "狮山镇东村村民委员会"), ("13", "狮山镇东村村民委员会")}
    assert "狮山镇东村村民委员会" not in messages


def test_simulation_of_the_seed_plan(seeded, tmp_path):
    """2020-08-01 to 2022-01-31, nothing ever done; counts worked out by hand from the policy and the 2020 calendar."""
    before = seeded.snapshot()
    out = tmp_path / "mail"
    days = {d["date"]: d for d in seeded.json("simulate", "--from", "2020-08-01", "--to", "2022-01-31", "--out", str(out))}
    assert seeded.snapshot() == before
    # item (1)'s 18 domain rows x 12 units = 216 assignments, due Wed 2020-09-30; 29 distinct principals
    for day in ("2020-08-31", "2020-09-16", "2020-09-23", "2020-09-29"):
        assert (days[day]["messages"], days[day]["notices"]) == (29, 216), day
    assert (days["2020-09-27"]["messages"], days["2020-09-27"]["notices"]) == (29, 216)  # make-up working Sunday
    # due day, plus item (2)'s before-30 (Oct 1 is a holiday, so Sep 30): 30 principals of item (2)
    assert (days["2020-09-30"]["messages"], days["2020-09-30"]["notices"]) == (30, 216 + 30)
    assert not [d for d in days if "2020-10-01" <= d <= "2020-10-08"]  # National Day week
    # first overdue notice on the first working day after the holiday; escalated to the county office
    assert (days["2020-10-09"]["messages"], days["2020-10-09"]["notices"]) == (29 + 1, 216)
    # item (2) is due Saturday 2020-10-31: 'due' goes out Friday, its first overdue notice Monday
    assert days["2020-10-30"]["notices"] == 216 + 30  # item (1) overdue-4 + item (2) due
    assert days["2020-11-02"]["notices"] == 30
    assert days["2020-10-28"]["notices"] == 30  # item (2) before-3
    # eight items due 2020-12-31 (x30 units); New Year's Day is a Friday holiday, so overdue-1 on Mon 2021-01-04,
    # together with item (1) and item (2), whose weekly notices fall on the holiday and move to Monday too
    # the weekly report goes out on each week's first working day: Friday 2020-10-09 after the National Day week
    reports = sorted(d for d, v in days.items() if v["weekly_report"])
    assert reports[:3] == ["2020-08-03", "2020-08-10", "2020-08-17"]
    assert "2020-10-09" in reports and "2020-10-05" not in days and "2020-10-12" in reports
    # ISO weeks 2020-W32 .. 2022-W05 are 79, but 2022-01-31, the only day of W05 in range, is Spring Festival
    assert len(reports) == len({dt.date.fromisoformat(d).isocalendar()[:2] for d in reports}) == 78
    assert days["2020-08-03"]["messages"] == 0 and days["2020-08-03"]["sent"] == 1
    assert days["2020-12-01"]["notices"] == 8 * 30
    assert days["2021-01-04"]["notices"] == 8 * 30 + 216 + 30
    assert "2021-01-01" not in days
    files = list(out.glob("*.eml"))
    assert len(files) == sum(d["messages"] for d in days.values()) + len(reports) == sum(d["sent"] for d in days.values())
    sample = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert sample["Subject"].startswith("【政务公开任务提醒】")


def _received(server):
    return server.recorder.messages


@pytest.mark.clock
def test_messages_arrive_at_a_real_smtp_server(seeded, smtp_server):
    seeded("status", "1.义务教育", "--unit", "县教育体育局", "--progress", "20",
           "--note", "<script>alert(1)</script> 已起草\r\nBcc: evil@example.org", "--today", "2020-09-20")
    use_smtp(seeded, smtp_server.port)
    result = seeded.json("run", "--once", "--today", "2020-09-23")
    assert result["delivery"] == {"sent": 29, "retrying": 0, "failed": 0, "errors": []}
    messages = {m["To"].addresses[0].addr_spec: m for m in _received(smtp_server)}
    assert len(messages) == 29
    edu = messages["jtj@wuding.example"]
    raw = edu.as_string()
    assert "=?utf-8?" in raw.split("\n\n", 1)[0]  # RFC 2047 encoded subject
    assert str(edu["Subject"]) == "【政务公开任务提醒】县教育体育局：1项7日内到期"
    assert edu["From"].addresses[0].addr_spec == "tracker@wuding.example"
    assert edu["To"].addresses[0].display_name == "县教育体育局"
    assert edu["Date"].datetime.date() == D(2020, 9, 23)
    assert edu["Message-ID"].endswith("@wuding.example>")
    assert edu["Bcc"] is None
    assert edu.get_content_type() == "multipart/alternative"
    plain = edu.get_body(("plain",)).get_content()
    html = edu.get_body(("html",)).get_content()
    assert "事项 1.义务教育" in plain and "还剩 7 天" in plain
    assert "&lt;script&gt;" in html and "<script>" not in html
    envelope_to = {tuple(rcpt) for _from, rcpt in smtp_server.recorder.envelopes}
    assert ("evil@example.org",) not in envelope_to


def test_a_unit_name_with_a_line_break_cannot_add_a_header(seeded, smtp_server):
    engine = create_engine(seeded.absolute_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE unit SET name = '县财政局\r\nBcc: evil@example.org' WHERE name = '县财政局'"))
    use_smtp(seeded, smtp_server.port)
    seeded("run", "--once", "--today", "2020-09-23")
    finance = [m for m in _received(smtp_server) if m["To"].addresses[0].addr_spec == "czj@wuding.example"]
    assert len(finance) == 1 and finance[0]["Bcc"] is None
    assert "\n" not in str(finance[0]["Subject"]) and "Bcc" in str(finance[0]["Subject"])
    assert all(rcpt != ["evil@example.org"] for _f, rcpt in smtp_server.recorder.envelopes)


@pytest.mark.clock
def test_server_down_then_back_delivers_each_message_exactly_once(seeded):
    port = free_port()
    use_smtp(seeded, port, retry_after_seconds=0)
    down = seeded.json("run", "--once", "--today", "2020-09-23")
    assert down["check"]["messages"] == 29 and down["delivery"]["sent"] == 0 and down["delivery"]["retrying"] == 1
    pending = seeded.json("outbox", "list", "--state", "pending")
    assert len(pending) == 29
    server = SmtpServer(port=port).start()
    try:
        up = seeded.json("run", "--once", "--today", "2020-09-24")
        assert up["delivery"]["sent"] == 29 and up["check"]["messages"] == 0
        again = seeded.json("run", "--once", "--today", "2020-09-24")
        assert again["delivery"]["sent"] == 0
        ids = server.recorder.message_ids()
        assert len(ids) == 29 and len(set(ids)) == 29
        assert {m["message_id"] for m in seeded.json("outbox", "list", "--state", "sent")} == set(ids)
    finally:
        server.stop()


@pytest.mark.clock
def test_temporary_failure_then_success(seeded):
    server = SmtpServer(recorder=Recorder(replies=["451 4.3.0 try again later"])).start()
    try:
        use_smtp(seeded, server.port, retry_after_seconds=0)
        first = seeded.json("run", "--once", "--today", "2020-09-23")
        assert first["delivery"]["retrying"] == 1 and first["delivery"]["sent"] == 0
        second = seeded.json("run", "--once", "--today", "2020-09-24")
        assert second["delivery"]["sent"] == 29
        ids = server.recorder.message_ids()
        assert len(ids) == 29 == len(set(ids))
        retried = [m for m in seeded.json("outbox", "list") if m["attempts"] == 2]
        assert len(retried) == 1 and retried[0]["state"] == "sent"
    finally:
        server.stop()


@pytest.mark.clock
def test_permanent_failure_is_recorded_and_not_retried_forever(seeded):
    server = SmtpServer(recorder=Recorder(replies=["550 5.1.1 mailbox unavailable"])).start()
    try:
        use_smtp(seeded, server.port, retry_after_seconds=0)
        run = seeded("run", "--once", "--today", "2020-09-23", "--json", ok=False)
        assert run.exit_code == 1 and "tracker outbox list --state failed" in run.stderr  # a cron job notices
        first = json.loads(run.stdout)
        assert (first["delivery"]["sent"], first["delivery"]["failed"]) == (28, 1)
        [failed] = seeded.json("outbox", "list", "--state", "failed")
        assert "550" in failed["last_error"] and failed["attempts"] == 1
        seeded("run", "--once", "--today", "2020-09-24")
        assert seeded.json("outbox", "list", "--state", "failed")[0]["attempts"] == 1
        listing = seeded("outbox", "list", "--state", "failed")
        assert "发送失败" in listing.stdout
        seeded("outbox", "retry", str(failed["id"]))
        seeded("run", "--once", "--today", "2020-09-24")
        assert seeded.json("outbox", "list", "--state", "failed") == []
        assert len(server.recorder.message_ids()) == 29
    finally:
        server.stop()


class BusyMailbox(Recorder):
    """Accepts everything except mail to one address, which it always puts off with a temporary 451."""

    def __init__(self, busy: str) -> None:
        super().__init__()
        self.busy, self.refused = busy, 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        if self.busy in envelope.rcpt_tos:
            with self.lock:
                self.refused += 1
            return "451 4.2.1 mailbox busy, try again later"
        return await super().handle_DATA(server, session, envelope)


def _retry_schedule(cli, recipient):
    """(attempts, state, seconds from the last attempt's claim to the next attempt) of one recipient's message."""
    engine = create_engine(cli.absolute_url)
    with Session(engine) as session:
        [row] = session.exec(select(OutboxMessage).where(OutboxMessage.recipient == recipient)).all()
        wait = (row.next_attempt_at - row.claimed_at).total_seconds() if row.next_attempt_at and row.claimed_at else None
        result = row.attempts, row.state, wait
    engine.dispose()
    return result


@pytest.mark.clock
def test_temporary_failures_back_off_and_stop_after_max_attempts(seeded):
    """Retries wait retry_after_seconds × 2^(n-1) after the n-th failed attempt, and the message fails after max_attempts."""
    recorder = BusyMailbox("czj@wuding.example")  # 县财政局
    server = SmtpServer(recorder=recorder).start()
    try:
        use_smtp(seeded, server.port, retry_after_seconds=3600, retry_max_seconds=86400, max_attempts=3)
        # (on a reused connection the transport also tries once more on a fresh one, so refusals are not counted as attempts)
        seeded("run", "--once", "--today", "2020-09-23")
        assert _retry_schedule(seeded, "县财政局")[:2] == (1, "pending") and recorder.refused >= 1
        assert 3600 <= _retry_schedule(seeded, "县财政局")[2] < 3600 + 60
        refused = recorder.refused
        later_that_day = seeded.json("run", "--once", "--today", "2020-09-23")
        assert recorder.refused == refused and later_that_day["delivery"]["retrying"] == 0  # not due again for an hour
        assert len(recorder.messages) == 28  # everyone else's reminder went out
        seeded("run", "--once", "--today", "2020-09-24")
        attempts, state, wait = _retry_schedule(seeded, "县财政局")
        assert (attempts, state) == (2, "pending") and recorder.refused > refused and 7200 <= wait < 7200 + 60
        gave_up = seeded("run", "--once", "--today", "2020-09-25", "--json", ok=False)
        assert gave_up.exit_code == 1  # a cron job notices mail that will never arrive
        third = json.loads(gave_up.stdout)
        assert (third["delivery"]["failed"], third["delivery"]["retrying"]) == (1, 0)
        assert _retry_schedule(seeded, "县财政局")[:2] == (3, "failed")
        refused = recorder.refused
        seeded("run", "--once", "--today", "2020-09-25")  # no new stage that day: the only candidate is the failed message
        assert recorder.refused == refused and _retry_schedule(seeded, "县财政局")[:2] == (3, "failed")
        [failed] = seeded.json("outbox", "list", "--state", "failed")
        assert failed["recipient"] == "县财政局" and "451" in failed["last_error"]
    finally:
        server.stop()


def test_unknown_transport_lists_the_valid_ones(seeded):
    seeded.write_config('[mail]\ntransport = "pigeon"\n')
    result = seeded("run", "--once", "--today", "2020-09-23", ok=False)
    assert result.exit_code == 1 and "smtp、folder、memory" in result.stderr


def test_mail_test_and_folder_transport(seeded, smtp_server):
    seeded("run", "--once", "--today", "2020-09-23")
    files = list((seeded.home / "outbox").glob("*.eml"))
    assert len(files) == 29 and all(os.stat(f).st_mode & 0o777 == 0o600 for f in files)
    use_smtp(seeded, smtp_server.port)
    result = seeded("mail", "test", "--to", "someone@wuding.example")
    assert "测试邮件已通过 smtp 发出" in result.stdout
    assert smtp_server.recorder.envelopes[-1][1] == ["someone@wuding.example"]
    smtp_server.stop()
    failed = seeded("mail", "test", "--to", "someone@wuding.example", ok=False)
    assert failed.exit_code == 1 and "测试邮件发送失败" in failed.stderr


@pytest.mark.clock
def test_daemon_killed_mid_batch_loses_nothing(seeded):
    port = free_port()
    use_smtp(seeded, port, lease_seconds=1, retry_after_seconds=0, pump_every_seconds=1)
    stored = seeded.json("run", "--once", "--today", "2020-09-23")  # server down: 29 messages wait in the outbox
    assert stored["check"]["messages"] == 29 and stored["delivery"]["sent"] == 0
    wanted = {m["message_id"] for m in seeded.json("outbox", "list")}
    server = SmtpServer(port=port, recorder=Recorder(delay=0.3)).start()
    env = {**os.environ, "TRACKER_CONFIG": str(seeded.config)}
    # --today: the daemon's own check of the real date must add nothing; 2020-09-23's stages are already in the ledger
    command = [sys.executable, "-c", "from tracker.cli.app import main; main()", "run", "--today", "2020-09-23"]
    try:
        daemon = subprocess.Popen(command, env=env, cwd=seeded.home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert wait_for(lambda: len(server.recorder.message_ids()) >= 5, 60)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
        arrived_before_restart = len(server.recorder.message_ids())
        assert arrived_before_restart < 29
        restarted = subprocess.Popen(command, env=env, cwd=seeded.home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert wait_for(lambda: wanted <= set(server.recorder.message_ids()), 90)
        restarted.send_signal(signal.SIGTERM)
        log, _ = restarted.communicate(timeout=30)
        assert restarted.returncode == 0, log
        assert "收到信号 SIGTERM" in log
    finally:
        server.stop()
    ids = [i for i in server.recorder.message_ids() if i in wanted]
    duplicates = len(ids) - len(set(ids))
    assert set(ids) == wanted and duplicates <= 1  # only the message in flight at the kill may arrive twice
    states = {m["message_id"]: m["state"] for m in seeded.json("outbox", "list")}
    assert set(states) == wanted and all(states[i] == "sent" for i in wanted)  # and the daemons' own checks added nothing


@pytest.mark.clock
def test_sigterm_during_the_catch_up_stops_after_the_message_in_flight(seeded):
    port = free_port()
    use_smtp(seeded, port, retry_after_seconds=0)
    seeded.json("run", "--once", "--today", "2020-09-23")  # server down: 29 messages wait
    server = SmtpServer(port=port, recorder=Recorder(delay=0.3)).start()
    env = {**os.environ, "TRACKER_CONFIG": str(seeded.config)}
    try:
        daemon = subprocess.Popen([sys.executable, "-c", "from tracker.cli.app import main; main()", "run", "--today", "2020-09-23"], env=env,
                                  cwd=seeded.home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert wait_for(lambda: len(server.recorder.message_ids()) >= 2, 60)
        daemon.send_signal(signal.SIGTERM)
        log, _ = daemon.communicate(timeout=30)
    finally:
        server.stop()
    assert daemon.returncode == 0, log
    arrived = server.recorder.message_ids()
    states = {m["message_id"]: m["state"] for m in seeded.json("outbox", "list")}
    assert len(states) == 29  # the daemon's own check of its day added nothing
    assert 2 <= len(arrived) < 29 and all(states[i] == "sent" for i in arrived)
    assert sorted(s for i, s in states.items() if i not in arrived) == ["pending"] * (29 - len(arrived))  # released, not lost
