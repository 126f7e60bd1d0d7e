"""The fault suite: adversarial runs that do not fit a unit test, each bounded in time.

    python tests/fault_suite.py [--seconds 60] [--postgres URL] [--json]

1. Kill loop: status writers run in parallel while the daemon is SIGKILLed and restarted again and
   again, a new working day at each start, against a real SMTP server. Afterwards every status
   update is in the journal and every stored message has arrived; a message may arrive twice only if
   it was in flight at a kill (at most one per kill).
2. Two daemons and a slow server: each message takes longer than the lease divided by the batch.
   Nothing may arrive twice.
3. `init --force` killed at random moments: the database is always complete or as before.
4. Disk full: SQLite on a small tmpfs, when this machine lets us mount one (root with CAP_SYS_ADMIN);
   status writes that do not fit must fail with an error and leave the database readable.

Figures (updates, kills, messages expected, delivered, duplicated) are printed at the end and in
README.md's reliability section. Exit status 1 when an invariant fails. CI runs it under `timeout`.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from tests.smtp_server import Recorder, SmtpServer  # noqa: E402

TRACKER = [sys.executable, "-c", "from tracker.cli.app import main; main()"]
WRITER = textwrap.dedent(
    """
    import pathlib, sys
    from typer.testing import CliRunner
    from tracker.cli.app import app
    config, unit, stop = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
    runner, done, failed = CliRunner(), 0, 0
    while not stop.exists():
        result = runner.invoke(app, ["--config", config, "status", "2", "--unit", unit, "--progress", str(done % 99 + 1),
                                     "--today", "2020-10-12"])
        if result.exit_code == 0:
            done += 1
        else:
            failed += 1
            print(result.output, file=sys.stderr)
    print(done, failed)
    """
)
WRITER_UNITS = ("狮山镇", "高桥镇", "猫街镇", "插甸镇")


class Home:
    """A folder with a config and a database (SQLite beside it, or a new PostgreSQL database)."""

    def __init__(self, postgres: str | None, mail: str, folder: Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tracker-faults-", dir=folder))
        self.admin = postgres
        if postgres:
            self.db = f"t_{uuid.uuid4().hex[:16]}"
            with create_engine(postgres, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.db}"'))
            self.url = make_url(postgres).set(database=self.db).render_as_string(hide_password=False)
        else:
            self.url = f"sqlite:///{self.dir / 'tracker.db'}"
        self.config = self.dir / "config.toml"
        self.config.write_text(f'[database]\nurl = "{self.url}"\n' + mail, "utf-8")
        self.env = {**os.environ, "TRACKER_CONFIG": str(self.config)}

    def tracker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*TRACKER, *args], env=self.env, cwd=self.dir, capture_output=True, text=True, timeout=300)
        if check and done.returncode != 0:
            raise RuntimeError(f"tracker {' '.join(args)}: {done.stdout}{done.stderr}")
        return done

    def daemon(self, *args: str) -> subprocess.Popen[str]:
        with open(self.dir / "daemon.log", "a") as log:
            return subprocess.Popen([*TRACKER, "run", *args], env=self.env, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
                                    text=True)

    def scalar(self, sql: str) -> int:
        engine = create_engine(self.url)
        with engine.connect() as conn:
            value = conn.execute(text(sql)).scalar()
        engine.dispose()
        return int(value or 0)

    def cleanup(self) -> None:
        if self.admin:
            with create_engine(self.admin, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)'))
        shutil.rmtree(self.dir, ignore_errors=True)


def smtp_mail(port: int, timeout: float = 1, **extra: object) -> str:
    lines = "".join(f"{k} = {v}\n" for k, v in extra.items())
    return (f'\n[mail]\ntransport = "smtp"\nretry_after_seconds = 0\n{lines}'
            f'\n[mail.smtp]\nhost = "127.0.0.1"\nport = {port}\ntimeout_seconds = {timeout}\n'
            '\n[reminders]\ncheck_time = "00:00"\n\n[report]\ntime = "00:00"\n')


def drain(home: Home, day: str, expected: int, server: SmtpServer, seconds: float) -> None:
    """Send what is left (claims of killed daemons expire after their lease)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and home.scalar("SELECT count(*) FROM outboxmessage WHERE state <> 'sent'"):
        home.tracker("run", "--once", "--today", day, check=False)
        time.sleep(1)


def counts(server: SmtpServer) -> tuple[int, int]:
    received = collections.Counter(server.recorder.message_ids())
    return len(received), sum(n - 1 for n in received.values())


def kill_loop(postgres: str | None, seconds: float) -> dict[str, object]:
    server = SmtpServer(recorder=Recorder(delay=0.02)).start()
    home = Home(postgres, smtp_mail(server.port, lease_seconds=2, pump_every_seconds=1))
    try:
        home.tracker("init", "--start", "2020-08-01")
        stop = home.dir / "stop"
        script = home.dir / "writer.py"
        script.write_text(WRITER, "utf-8")
        writers = [subprocess.Popen([sys.executable, str(script), str(home.config), unit, str(stop)], env=home.env,
                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for unit in WRITER_UNITS]
        day, kills, deadline = dt.date(2020, 9, 14), 0, time.monotonic() + seconds  # reminders start on 09-16
        while time.monotonic() < deadline:
            log = home.dir / "daemon.log"
            size = log.stat().st_size if log.exists() else 0
            daemon = home.daemon("--today", day.isoformat())
            started = time.monotonic()
            while (not log.exists() or log.stat().st_size == size) and time.monotonic() - started < 60:
                time.sleep(0.1)  # until its first words: the day's check is done (or skipped)
            time.sleep(random.uniform(0.1, 2.0))  # then a kill somewhere in the sending
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=30)
            kills += 1
            day += dt.timedelta(days=1)
        stop.touch()
        results = [w.communicate(timeout=120) for w in writers]
        updates = sum(int(out.split()[0]) for out, _ in results)
        expected = home.scalar("SELECT count(*) FROM outboxmessage")
        drain(home, (day - dt.timedelta(days=1)).isoformat(), expected, server, 120)
        journal = home.scalar("SELECT count(*) FROM journalentry WHERE action = 'status'")
        delivered, duplicated = counts(server)
        sent = home.scalar("SELECT count(*) FROM outboxmessage WHERE state = 'sent'")
        problems = []
        if journal != updates:
            problems.append(f"{updates - journal} status updates lost")
        if delivered != expected or sent != expected:
            problems.append(f"{expected} messages stored, {delivered} arrived, {sent} recorded as sent")
        if duplicated > kills:
            problems.append(f"{duplicated} duplicates for {kills} kills")
        return {"scenario": "kill loop", "updates": updates, "kills": kills, "expected": expected, "delivered": delivered,
                "duplicated": duplicated, "problems": problems}
    finally:
        server.stop()
        home.cleanup()


def two_daemons(postgres: str | None, seconds: float) -> dict[str, object]:
    # lease 15 s (3 × a 5 s timeout), a batch of 20 takes 16 s; the timeout stays well above the server's delay, since
    # a reply later than the timeout leaves delivery unknown and SMTP itself may then deliver twice
    server = SmtpServer(recorder=Recorder(delay=0.8)).start()
    home = Home(postgres, smtp_mail(server.port, timeout=5, lease_seconds=1, pump_every_seconds=1))
    try:
        home.tracker("init", "--start", "2020-08-01")
        daemons = [home.daemon("--today", "2020-09-23") for _ in range(2)]  # both catch up the check; one stores it
        expected = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            expected = home.scalar("SELECT count(*) FROM outboxmessage")
            if expected and counts(server)[0] >= expected:
                time.sleep(17)  # more passes of both pumps, past every lease
                break
            time.sleep(0.5)
        for d in daemons:
            d.send_signal(signal.SIGTERM)
        for d in daemons:
            d.wait(timeout=60)
        delivered, duplicated = counts(server)
        problems = [] if (delivered == expected and duplicated == 0) else [f"{expected} stored, {delivered} arrived, {duplicated} twice"]
        return {"scenario": "two daemons, slow server", "updates": 0, "kills": 0, "expected": expected,
                "delivered": delivered, "duplicated": duplicated, "problems": problems}
    finally:
        server.stop()
        home.cleanup()


def init_kills(postgres: str | None, rounds: int) -> dict[str, object]:
    home = Home(postgres, "")
    try:
        problems = []
        for _ in range(rounds):
            process = subprocess.Popen([*TRACKER, "init", "--force"], env=home.env, cwd=home.dir,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(random.uniform(0.3, 3.0))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            listing = home.tracker("items", "list", "--json", check=False)
            if listing.returncode == 0:
                if len(json.loads(listing.stdout)) != 34:
                    problems.append("a complete-looking database without its 34 items")
            elif "尚未初始化" not in listing.stderr:
                problems.append("half made: " + listing.stderr.strip())
        return {"scenario": "init killed", "updates": 0, "kills": rounds, "expected": 0, "delivered": 0, "duplicated": 0,
                "problems": problems}
    finally:
        home.cleanup()


def disk_full() -> dict[str, object]:
    mount = Path(tempfile.mkdtemp(prefix="tracker-tmpfs-"))
    result: dict[str, object] = {"scenario": "disk full (tmpfs)", "updates": 0, "kills": 0, "expected": 0, "delivered": 0,
                                 "duplicated": 0, "problems": []}
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True).returncode != 0:
        mount.rmdir()
        return {**result, "skipped": "this machine does not allow mounting a tmpfs"}
    try:
        home = Home(None, "", folder=mount)
        home.tracker("init", "--start", "2020-08-01")
        filler = mount / "filler"
        fd = os.open(filler, os.O_CREAT | os.O_WRONLY, 0o600)  # take what is left, so that the next writes do not fit
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        note = "满" * 20000
        done_updates, notes = 0, []
        for n in range(20):
            done = home.tracker("status", "2", "--unit", "狮山镇", "--progress", str(n + 1), "--note", note,
                                "--today", "2020-10-12", check=False)
            done_updates += done.returncode == 0
            if done.returncode != 0 and ("Traceback" in done.stderr or not done.stderr.startswith("错误：")) and not notes:
                notes.append(done.stderr.strip().splitlines()[-1][:80] if done.stderr.strip() else "no message")
                result["problems"].append("a full disk is not reported as one Chinese line: " + notes[-1])  # type: ignore[union-attr]
        filler.unlink()
        if home.tracker("items", "list", "--json", check=False).returncode != 0:
            result["problems"].append("the database is unreadable after the disk filled up")  # type: ignore[union-attr]
        journal = home.scalar("SELECT count(*) FROM journalentry WHERE action = 'status'")
        if journal != done_updates:
            result["problems"].append(f"{done_updates} updates succeeded, {journal} in the journal")  # type: ignore[union-attr]
        result.update(updates=done_updates, expected=20, notes=notes)
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
        shutil.rmtree(mount, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long the kill loop runs (the rest is bounded too)")
    parser.add_argument("--postgres", default=os.environ.get("TRACKER_TEST_POSTGRES"), help="also run on this server")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    results = []
    for backend, url in (("sqlite", None), *((("postgres", options.postgres),) if options.postgres else ())):
        for run in (lambda: kill_loop(url, options.seconds), lambda: two_daemons(url, 120), lambda: init_kills(url, 8)):
            started = time.monotonic()
            outcome = run()
            results.append({"backend": backend, **outcome, "seconds": round(time.monotonic() - started)})
            print(json.dumps(results[-1], ensure_ascii=False), flush=True)
    results.append({"backend": "sqlite", **disk_full()})
    print(json.dumps(results[-1], ensure_ascii=False), flush=True)
    if options.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        print(f"\n{'backend':9}{'scenario':28}{'updates':>8}{'kills':>7}{'expected':>9}{'delivered':>10}{'duplicated':>11}")
        for r in results:
            print(f"{r['backend']:9}{r['scenario']:28}{r['updates']:>8}{r['kills']:>7}{r['expected']:>9}{r['delivered']:>10}"
                  f"{r['duplicated']:>11}  {'; '.join(r['problems']) or r.get('skipped', 'ok')}"
              + ("  (" + "; ".join(r["notes"]) + ")" if r.get("notes") else ""))  # type: ignore[arg-type]
    return 1 if any(r["problems"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
