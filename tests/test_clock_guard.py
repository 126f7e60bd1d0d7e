"""A date in the future cannot silence real reminders (issue 12, point 1).

A check claims in the ledger every stage due up to its day, and a claimed stage is never sent again.
So a writing command refuses a --today later than the real date (a day's tolerance) unless it is a
drill on a copy; a clock that jumped forward stops the check until the operator confirms the date;
`tracker ledger rewind` repairs a mistake; and --today outside 2000-2100 is refused everywhere.
The real clock is handed to the CLI at its edge (``obj=``), never patched.
"""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import wait_for
from tests.smtp_server import free_port
from tracker.cli.app import app
from tracker.ledger import ClockReading, clock_jump
from tracker.models import CheckRun

TZ = ZoneInfo("Asia/Shanghai")


def clock_at(moment: str):
    at = dt.datetime.fromisoformat(moment)
    return lambda: at


def run_at(cli, moment: str, *args: str, ok: bool = True):
    """`tracker ...` with the real clock reading ``moment`` (ISO, with offset)."""
    result = cli.runner.invoke(app, ["--config", str(cli.config), *args], obj=clock_at(moment))
    if ok and result.exit_code != 0:
        raise AssertionError(f"tracker {' '.join(args)} failed ({result.exit_code}):\n{result.output}\n{result.exception!r}")
    return result


def count(cli, sql: str) -> int:
    engine = create_engine(cli.absolute_url)
    with engine.connect() as conn:
        value = conn.execute(text(sql)).scalar()
    engine.dispose()
    return value


def unreachable_smtp(cli) -> None:
    """Mail stays queued (nothing listens on the port): what a check stored is still in the outbox."""
    cli.write_config(f'\n[mail]\ntransport = "smtp"\nretry_after_seconds = 0\n[mail.smtp]\nhost = "127.0.0.1"\n'
                     f"port = {free_port()}\ntimeout_seconds = 2\n")


@pytest.mark.parametrize("day", ["9999-12-31", "1900-01-01", "1999-12-31", "2101-01-01"])
def test_a_today_outside_2000_to_2100_is_refused_everywhere(seeded, day):
    before = seeded.snapshot()
    for command in (["items", "list"], ["remind", "--dry-run"], ["run", "--once"], ["report", "weekly"],
                    ["status", "2", "--unit", "狮山镇", "--progress", "10"], ["show", "2"]):
        result = seeded(*command, "--today", day, ok=False)
        assert result.exit_code == 1, (command, result.output)
        assert "2000-01-01 至 2100-12-31" in result.stderr and "Traceback" not in result.output, command
    assert seeded.snapshot() == before


def test_a_future_today_is_refused_by_writing_commands_and_changes_nothing(seeded):
    real = "2020-09-23T09:00:00+08:00"
    before = seeded.snapshot()
    for command in (["run", "--once", "--today", "2021-06-01"],
                    ["status", "2", "--unit", "狮山镇", "--progress", "10", "--today", "2020-09-25"],
                    ["extend", "9", "--unit", "环州乡", "--to", "2021-08-31", "--reason", "批复", "--today", "2020-10-01"],
                    ["event", "record", "E1", "--on", "2020-09-20", "--today", "2020-12-01"],
                    ["report", "weekly", "--as-of", "2020-09-28", "--send"]):
        result = run_at(seeded, real, *command, ok=False)
        assert result.exit_code == 1, (command, result.output)
        assert "晚于今天（2020-09-23" in result.stderr, command
    assert seeded.snapshot() == before
    # a day's tolerance (clocks and zones differ), and reading a future date is always allowed
    run_at(seeded, real, "status", "2", "--unit", "狮山镇", "--progress", "10", "--today", "2020-09-24")
    assert len(run_at(seeded, real, "items", "list", "--today", "2021-06-01", "--json").stdout) > 0
    run_at(seeded, real, "remind", "--dry-run", "--today", "2021-06-01")


def test_a_drill_runs_on_a_copy_and_the_real_checks_still_send(seeded, tmp_path):
    real = "2020-09-23T09:00:00+08:00"
    expected = len(seeded.json("remind", "--dry-run", "--today", "2020-09-23"))
    assert expected > 0
    before = seeded.snapshot()
    drill = run_at(seeded, real, "run", "--once", "--today", "2021-06-01", "--drill", "--out", str(tmp_path / "drill"))
    assert "这是演练" in drill.stdout
    assert len(list((tmp_path / "drill").glob("*.eml"))) > 0
    status = run_at(seeded, real, "status", "2", "--unit", "狮山镇", "--progress", "60", "--today", "2021-01-05", "--drill")
    assert "这是演练" in status.stdout and "60%" in status.stdout
    assert seeded.snapshot() == before  # the real database is untouched
    assert not (seeded.home / "outbox").exists()  # and no real mail went out
    check = json.loads(run_at(seeded, real, "run", "--once", "--today", "2020-09-23", "--json").stdout)
    assert check["check"]["messages"] == expected


def test_rewind_repairs_a_run_dated_in_the_future(seeded):
    unreachable_smtp(seeded)
    expected = {d: len(seeded.json("remind", "--dry-run", "--today", d)) for d in ("2020-09-23", "2020-10-12")}
    # the mistake, as it happened before the guard: a clock (or operator) that said 2021-06-01
    run_at(seeded, "2021-06-01T09:00:00+08:00", "run", "--once", "--today", "2021-06-01")
    wrong = count(seeded, "SELECT count(*) FROM notice")
    assert wrong > 0
    silenced = json.loads(run_at(seeded, "2020-09-23T09:00:00+08:00", "run", "--once", "--today", "2020-09-23", "--json").stdout)
    assert silenced["check"]["messages"] == 0  # the symptom: the real day's check sends nothing
    before = seeded.snapshot()
    preview = seeded.json("ledger", "rewind", "--after", "2020-09-22", "--dry-run")
    assert seeded.snapshot() == before
    assert preview["notices"] == wrong and preview["messages"] >= 1 and preview["dates"] == ["2021-06-01"]
    done = seeded.json("ledger", "rewind", "--after", "2020-09-22")
    assert {k: done[k] for k in ("notices", "messages")} == {k: preview[k] for k in ("notices", "messages")}
    assert count(seeded, "SELECT count(*) FROM notice") == 0
    assert count(seeded, "SELECT count(*) FROM outboxmessage WHERE run_date > '2020-09-22'") == 0
    assert count(seeded, "SELECT count(*) FROM outboxbody") == count(seeded, "SELECT count(*) FROM outboxmessage")
    assert any(e["action"] == "rewind" for e in seeded.json("export")["journal"])
    for day, n in expected.items():
        report = json.loads(run_at(seeded, day + "T09:00:00+08:00", "run", "--once", "--today", day, "--json").stdout)
        assert report["check"]["messages"] == n, day
    assert seeded.json("ledger", "rewind", "--after", "2021-01-01")["notices"] == 0


def reading(at: str, uptime: float, boot: str = "boot-a") -> ClockReading:
    return ClockReading(at=dt.datetime.fromisoformat(at), boot_id=boot, uptime=uptime)


def test_a_clock_jump_is_told_from_time_that_really_passed():
    last = CheckRun(day=dt.date(2020, 9, 23), at=dt.datetime(2020, 9, 23, 8, 30, tzinfo=TZ), boot_id="boot-a", uptime=1000.0)
    day = 86400.0
    # the next morning, and Monday after a weekend of the daemon running: time passed as the clock says
    assert clock_jump(last, dt.date(2020, 9, 24), reading("2020-09-24T08:30:00+08:00", 1000 + day)) is None
    assert clock_jump(last, dt.date(2020, 9, 28), reading("2020-09-28T08:30:00+08:00", 1000 + 5 * day)) is None
    # the wall clock ran 251 days ahead in a minute
    jumped = clock_jump(last, dt.date(2021, 6, 1), reading("2021-06-01T08:31:00+08:00", 1060))
    assert jumped and "tracker ledger confirm-date 2021-06-01" in jumped and "1 分钟" in jumped
    # after a reboot nothing can be measured: a gap of more than a day needs the operator
    assert "重启" in clock_jump(last, dt.date(2020, 9, 28), reading("2020-09-28T08:30:00+08:00", 50, boot="boot-b"))
    assert clock_jump(last, dt.date(2020, 9, 24), reading("2020-09-24T08:30:00+08:00", 50, boot="boot-b")) is None


def test_run_once_on_a_clock_that_jumped_waits_for_the_operator(seeded):
    unreachable_smtp(seeded)
    run_at(seeded, "2020-09-23T09:00:00+08:00", "run", "--once")
    before = seeded.snapshot()
    refused = run_at(seeded, "2021-06-01T09:00:00+08:00", "run", "--once", ok=False)
    assert refused.exit_code == 1 and "tracker ledger confirm-date 2021-06-01" in refused.stderr
    assert seeded.snapshot() == before
    confirmed = run_at(seeded, "2021-06-01T09:00:00+08:00", "ledger", "confirm-date", "2021-06-01")
    assert "已确认今天是 2021-06-01" in confirmed.stdout
    after = json.loads(run_at(seeded, "2021-06-01T09:00:00+08:00", "run", "--once", "--json").stdout)
    assert after["check"]["notices"] > 0
    assert seeded.json("ledger", "status")["last_check"]["day"] == "2021-06-01"


FAKE_CLOCK = textwrap.dedent(
    """
    import datetime as dt, pathlib, sys
    from tracker.cli.app import app
    moment = pathlib.Path(sys.argv[1])
    app(args=sys.argv[2:], obj=lambda: dt.datetime.fromisoformat(moment.read_text().strip()), prog_name="tracker")
    """
)


def test_the_daemon_stops_checking_after_a_clock_jump_until_the_date_is_confirmed(seeded, tmp_path):
    unreachable_smtp(seeded)
    seeded.config.write_text(seeded.config.read_text().replace("retry_after_seconds = 0", "retry_after_seconds = 0\n"
                                                              "pump_every_seconds = 1"), "utf-8")
    script, moment = tmp_path / "clock.py", tmp_path / "now.txt"
    script.write_text(FAKE_CLOCK, "utf-8")
    env = {**os.environ, "TRACKER_CONFIG": str(seeded.config)}

    def daemon(log):
        return subprocess.Popen([sys.executable, str(script), str(moment), "run"], env=env, cwd=seeded.home,
                                stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)

    def stop(process):
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0

    moment.write_text("2020-09-23T09:00:00+08:00")
    first = daemon(tmp_path / "first.log")
    try:
        assert wait_for(lambda: count(seeded, "SELECT count(*) FROM notice") > 0, 60)
    finally:
        stop(first)
    notices = count(seeded, "SELECT count(*) FROM notice")
    moment.write_text("2021-06-01T09:00:00+08:00")  # the clock jumps while the daemon is down for a minute
    log = tmp_path / "second.log"
    second = daemon(log)
    try:
        assert wait_for(lambda: "上次检查的日期是" in log.read_text(), 60), log.read_text()
        time.sleep(3)  # several pump passes: it keeps refusing
        assert count(seeded, "SELECT count(*) FROM notice") == notices
        run_at(seeded, "2021-06-01T09:00:00+08:00", "ledger", "confirm-date", "2021-06-01")
        assert wait_for(lambda: count(seeded, "SELECT count(*) FROM notice") > notices, 60)
    finally:
        stop(second)
    out = log.read_text()
    assert "tracker ledger confirm-date 2021-06-01" in out
    assert out.count("上次检查的日期是") == 1  # said once, not at every pass
