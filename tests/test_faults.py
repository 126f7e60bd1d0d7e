"""Faults: the mail server misbehaves, the database is busy, the clock jumps, two daemons race.

After each: no message lost, none delivered twice except the one in flight (same Message-ID), and
the outbox says what happened. Every wait is bounded.
"""

import collections
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from tests.conftest import use_smtp, wait_for
from tests.smtp_server import DroppingProxy, Recorder, SmtpServer

pytestmark = pytest.mark.clock  # daemons, retries and leases run on the real clock: .ci/run repeats them at other hours


def outbox(cli):
    return cli.json("outbox", "list")


def assert_each_delivered_once(cli, server, in_flight=0):
    sent = {m["message_id"] for m in outbox(cli)}
    received = collections.Counter(server.recorder.message_ids())
    assert set(received) == sent
    assert sum(n - 1 for n in received.values()) <= in_flight
    assert all(m["state"] == "sent" for m in outbox(cli))


def test_server_that_drops_every_third_connection(seeded):
    server = SmtpServer().start()
    proxy = DroppingProxy(server.port, every=3).start()
    try:
        use_smtp(seeded, proxy.port, retry_after_seconds=0)
        for day in ("2020-09-23", "2020-09-24", "2020-09-27", "2020-09-28", "2020-09-29", "2020-09-30", "2020-10-09"):
            seeded("run", "--once", "--today", day)
        for _ in range(5):  # what a dropped connection left behind goes out on the next passes
            if not seeded.json("outbox", "list", "--state", "pending"):
                break
            seeded("run", "--once", "--today", "2020-10-09")
        assert proxy.dropped >= 1
        retried = [m for m in outbox(seeded) if m["attempts"] > 1]
        assert retried and all(m["state"] == "sent" for m in retried)
        assert_each_delivered_once(seeded, server)
        # before-7, before-3, before-1 (29 each), the due day and overdue-1 (30 each), and the weekly reports of
        # Monday 2020-09-28 and Friday 2020-10-09 (the first working day after the National Day week)
        assert len(outbox(seeded)) == 29 * 3 + 30 + 30 + 2
    finally:
        proxy.stop()
        server.stop()


class PausingRecorder(Recorder):
    """Counts the DATA commands it has finished with, including one whose client gave up waiting."""

    def __init__(self, **settings) -> None:
        super().__init__(**settings)
        self.finished = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        try:
            return await super().handle_DATA(server, session, envelope)
        finally:
            with self.lock:
                self.finished += 1


def test_server_that_stalls_past_the_timeout(seeded):
    server = SmtpServer(recorder=PausingRecorder(delays=[3.0])).start()  # the first DATA answers after 3 s; the client waits 1 s
    try:
        use_smtp(seeded, server.port, retry_after_seconds=0)
        seeded.write_config(seeded.config.read_text().split("\n", 2)[2].replace("timeout_seconds = 5", "timeout_seconds = 1"))
        first = seeded.json("run", "--once", "--today", "2020-09-23")
        assert first["delivery"]["retrying"] == 1
        stalled = [m for m in outbox(seeded) if m["attempts"] == 1 and m["state"] == "pending"]
        assert len(stalled) == 1 and "超时" in stalled[0]["last_error"]
        # the server's stalled DATA ends (accepted late, or dropped with the connection) before the next pass, so that
        # a late copy of it would be counted below
        assert wait_for(lambda: server.recorder.finished >= 1, 30)
        seeded("run", "--once", "--today", "2020-09-24")
        assert_each_delivered_once(seeded, server, in_flight=1)
        duplicates = [i for i, n in collections.Counter(server.recorder.message_ids()).items() if n > 1]
        assert duplicates in ([], [stalled[0]["message_id"]])  # only the message in flight, with its own Message-ID
    finally:
        server.stop()


HOLD_LOCK = textwrap.dedent(
    """
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    db.execute("UPDATE unit SET phone = phone")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    db.execute("COMMIT")
    """
)


def test_sqlite_busy_from_another_writer(seeded, sqlite_only, smtp_server, tmp_path):
    use_smtp(seeded, smtp_server.port)
    script = tmp_path / "hold.py"
    script.write_text(HOLD_LOCK, "utf-8")
    holder = subprocess.Popen([sys.executable, str(script), str(seeded.db_path), "3"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    started = time.monotonic()
    seeded("status", "2", "--unit", "狮山镇", "--progress", "30", "--today", "2020-09-23")
    result = seeded.json("run", "--once", "--today", "2020-09-23")
    assert time.monotonic() - started >= 1.5  # it waited for the lock instead of failing
    assert holder.wait(timeout=30) == 0
    assert result["delivery"]["sent"] == 29
    assert_each_delivered_once(seeded, smtp_server)
    assert seeded.json("history", "2", "--unit", "狮山镇")[0]["to_progress"] == 30


def test_clock_jumping_a_week_forward_sends_only_the_latest_stage(seeded, smtp_server):
    use_smtp(seeded, smtp_server.port)
    seeded("run", "--once", "--today", "2020-09-23")
    jumped = seeded.json("run", "--once", "--today", "2020-09-30")
    assert jumped["check"]["notices"] == 216 + 30
    engine = create_engine(seeded.absolute_url)
    with engine.connect() as conn:
        stages = dict(conn.execute(text("SELECT stage, count(*) FROM notice GROUP BY stage")).fetchall())
    assert stages == {"before-7": 216, "due": 216, "before-30": 30}  # before-3 and before-1 were never sent
    assert_each_delivered_once(seeded, smtp_server)


def test_two_checks_racing_on_the_same_rows_store_each_stage_once(seeded, monkeypatch):
    """The ledger's unique (assignment, deadline, stage) is the claim, whatever the timing.

    Check A decides from a snapshot taken before check B committed (as when both start at once), then
    tries to store the same stages: its transaction must fail and leave nothing, not a second batch of mail.
    """
    from schedules import jobs

    decided = []
    real_plan_check = jobs.plan_check

    def decided_before_the_other_check_committed(session, *args):
        if not decided:
            decided.append(real_plan_check(session, *args))
        return decided[0]

    monkeypatch.setattr(jobs, "plan_check", decided_before_the_other_check_committed)
    first = seeded.json("run", "--once", "--today", "2020-09-23")
    assert (first["check"]["messages"], first["check"]["notices"]) == (29, 216)
    second = seeded.json("run", "--once", "--today", "2020-09-23")
    assert second["check"]["messages"] == 0 and second["check"]["skipped"]  # its ledger rows collided: nothing stored
    assert len(outbox(seeded)) == 29
    engine = create_engine(seeded.absolute_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*), count(DISTINCT assignment_id) FROM notice")).one() == (216, 216)
        claim = conn.execute(text("SELECT assignment_id, due_on, stage, rank, sent_on, created_at FROM notice")).mappings().first()
    with pytest.raises(IntegrityError):  # and the same claim inserted directly
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO notice (assignment_id, due_on, stage, rank, sent_on, created_at) "
                              "VALUES (:assignment_id, :due_on, :stage, :rank, :sent_on, :created_at)"), dict(claim))
    engine.dispose()


STATUS_WRITER = textwrap.dedent(
    """
    import sys
    from typer.testing import CliRunner
    from tracker.cli.app import app
    runner = CliRunner()
    for progress in range(1, 31):
        result = runner.invoke(app, ["--config", sys.argv[1], "status", "2", "--unit", "狮山镇", "--progress", str(progress),
                                     "--today", "2020-10-12"])
        if result.exit_code != 0:
            print(result.output, file=sys.stderr)
            sys.exit(1)
    """
)


def test_two_daemons_and_a_status_writer_deliver_each_stage_once(seeded, tmp_path):
    server = SmtpServer(recorder=Recorder(delay=0.05)).start()
    try:
        use_smtp(seeded, server.port, pump_every_seconds=1, lease_seconds=60)
        seeded.config.write_text(seeded.config.read_text() + '\n[reminders]\ncheck_time = "00:00"\n\n[report]\ntime = "00:00"\n', "utf-8")
        env = {**os.environ, "TRACKER_CONFIG": str(seeded.config)}
        command = [sys.executable, "-c", "from tracker.cli.app import main; main()", "run", "--today", "2020-10-12"]
        writer_script = tmp_path / "writer.py"
        writer_script.write_text(STATUS_WRITER, "utf-8")
        logs = [tmp_path / f"daemon-{n}.log" for n in range(2)]
        daemons = []
        for log in logs:
            with log.open("w") as out:  # the child keeps its own copy of the file descriptor
                daemons.append(subprocess.Popen(command, env=env, cwd=seeded.home, stdout=out, stderr=subprocess.STDOUT, text=True))
        writer = subprocess.Popen([sys.executable, str(writer_script), str(seeded.config)], stderr=subprocess.PIPE, text=True)
        # Monday 2020-10-12: item (1)'s overdue notice and item (2)'s before-30 (the latest stages due), and the weekly report
        assert wait_for(lambda: len(server.recorder.message_ids()) >= 31, 120), server.recorder.message_ids()
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
        # both daemons finished their start-up (catch-up check, weekly report, a first delivery pass) and nothing is left
        # queued or claimed: a duplicate from either would have been sent by now
        assert wait_for(lambda: all("调度已启动" in log.read_text("utf-8") for log in logs)
                        and [m["state"] for m in outbox(seeded)] == ["sent"] * 31, 60), [log.read_text("utf-8") for log in logs]
        for daemon in daemons:
            daemon.send_signal(signal.SIGTERM)
        for daemon in daemons:
            daemon.wait(timeout=60)
        assert [d.returncode for d in daemons] == [0, 0], [log.read_text("utf-8") for log in logs]
    finally:
        server.stop()
    ids = server.recorder.message_ids()
    assert len(ids) == len(set(ids)) == 31
    reports = [m for m in server.recorder.messages if str(m["Subject"]).startswith("【工作进度通报】")]
    assert len(reports) == 1
    delivered = collections.Counter(
        (e["item"], e["unit"], e["stage"]) for m in outbox(seeded) if m["state"] == "sent"
        for e in seeded_entries(seeded, m["id"]) if e.get("role") == "principal"
    )
    assert len(delivered) == 216 + 30 and set(delivered.values()) == {1}
    assert seeded.json("history", "2", "--unit", "狮山镇")[-1]["to_progress"] == 30


def seeded_entries(cli, message_id):
    engine = create_engine(cli.absolute_url)
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT entries FROM outboxbody WHERE id = :i"), {"i": message_id}).scalar()
    engine.dispose()
    return raw if isinstance(raw, list) else json.loads(raw)
