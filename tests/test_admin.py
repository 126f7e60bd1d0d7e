"""Schema upgrades, backup, export, `config check`, and keeping the SMTP password secret."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from tests.conftest import use_smtp
from tests.smtp_server import Recorder, free_port
from tracker.db import head_revision, make_engine, upgrade_database


def test_migrations_build_exactly_the_models(cli):
    engine = make_engine(cli.absolute_url if cli.backend == "postgres" else f"sqlite:///{cli.home / 'm.db'}")
    upgrade_database(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []


def test_an_old_database_is_upgraded_in_place_with_its_data(cli):
    engine = make_engine(cli.absolute_url)
    assert upgrade_database(engine, "0001") == (None, "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO plan (id, title, source, checksum, plan_year, county, domain_row_principals, "
                          "lead_does_work) VALUES (1, '旧计划', 'old.txt', 'x', 2020, '武定县', 'guiding', false)"))
        conn.execute(text("INSERT INTO unit (id, name, kind, emails, aliases, contact, phone) VALUES "
                          "(1, '县政府办公室', 'office', '[\"xzfb@wuding.example\"]', '[]', '李四', '')"))
        conn.execute(text("INSERT INTO outboxmessage (id, run_date, recipient, to_addrs, subject, message_id, raw, entries, "
                          "state, attempts, last_error, created_at) VALUES (1, '2020-09-23', '县政府办公室', "
                          "'[\"xzfb@wuding.example\"]', '旧邮件', '<old@wuding.example>', 'raw', '[{\"item\": \"1\"}]', 'sent', 1, '', "
                          "'2020-09-23 00:30:00')"))
    assert "reportrun" not in inspect(engine).get_table_names()
    result = cli.json("db", "upgrade")
    assert result == {"from": "0001", "to": head_revision(), "changed": True}
    assert "reportrun" in inspect(engine).get_table_names()
    listing = cli.json("outbox", "list")
    assert [(m["subject"], m["kind"], m["state"]) for m in listing] == [("旧邮件", "reminder", "sent")]
    assert cli.json("units", "show", "县政府办公室")["contact"] == "李四"
    assert cli.json("export")["outbox"][0]["entries"] == [{"item": "1"}]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT raw FROM outboxbody WHERE id = 1")).scalar() == "raw"
    assert cli.json("db", "upgrade")["changed"] is False
    refused = cli("init", ok=False)
    assert refused.exit_code == 1 and "--force" in refused.stderr


def test_backup_of_a_live_database_and_export(seeded, tmp_path):
    seeded("status", "2", "--unit", "狮山镇", "--progress", "40", "--today", "2020-10-09")
    backup = tmp_path / "backup" / "tracker.db"
    seeded("db", "backup", str(backup))
    assert os.stat(backup).st_mode & 0o777 == 0o600
    with sqlite3.connect(backup) as db:
        assert db.execute("SELECT count(*) FROM assignment WHERE role = 'principal'").fetchone()[0] == 606
        assert db.execute("SELECT count(*) FROM journalentry WHERE action = 'status'").fetchone()[0] == 1
    again = seeded("db", "backup", str(backup), ok=False)
    assert again.exit_code == 1 and "已存在" in again.stderr
    data = json.loads(seeded("export", "--json").stdout)
    assert {"units", "items", "assignments", "journal", "outbox", "events"} <= set(data)
    assert len(data["items"]) == 34 and len(data["units"]) == 31
    assert any(j["action"] == "status" and j["to_progress"] == 40 for j in data["journal"])


def _one_each(problems, *needles):
    """Each problem is about exactly one of the expected mistakes, and every mistake is reported, each with its key and value."""
    assert len(problems) == len(needles), problems
    for words in needles:
        assert len([p for p in problems if all(w in p for w in words)]) == 1, (words, problems)


def test_config_check_names_every_problem(cli, monkeypatch):
    cli("init")
    assert "配置没有问题" in cli("config", "check").stdout
    cli.write_config('[mail]\ntransport = "pigeon"\nsender = "no address"\n[mail.smtp]\nuser = "u"\n')
    result = cli("config", "check", "--json", ok=False)
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["ok"] is False
    _one_each(report["problems"], ("mail.transport", "pigeon", "smtp、folder、memory"), ("mail.sender", "no address"))
    cli.write_config('[mail]\ntransport = "smtp"\n[mail.smtp]\nuser = "u"\nstarttls = true\ntls = true\npassword_env = "NO_SUCH_VAR"\n')
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    problems = json.loads(cli("config", "check", "--json", ok=False).stdout)["problems"]
    _one_each(problems, ("NO_SUCH_VAR", "password_file"), ("mail.smtp.starttls", "mail.smtp.tls"))
    cli.write_config("[reminders]\nbefor_days = [1]\n[lights]\nyellow_within_days = -1\n")
    problems = json.loads(cli("config", "check", "--json", ok=False).stdout)["problems"]
    _one_each(problems, ("reminders.befor_days", "未知"), ("lights.yellow_within_days", "-1"))


SECRET = "S3cret-Pa55-word"


class _Auth:
    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"tracker" and auth_data.password == SECRET.encode()
        return AuthResult(success=ok, handled=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_the_smtp_password_never_shows(seeded, tmp_path):
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, authenticator=_Auth(), auth_require_tls=False,
                            auth_required=True)
    controller.start()
    outputs = []
    try:
        use_smtp(seeded, port)
        seeded.config.write_text(seeded.config.read_text() + 'user = "tracker"\n', "utf-8")
        env = {**os.environ, "TRACKER_CONFIG": str(seeded.config), "TRACKER_SMTP_PASSWORD": SECRET}
        tracker = [sys.executable, "-c", "from tracker.cli.app import main; main()"]
        for args in (["run", "--once", "--today", "2020-09-23", "--json"], ["outbox", "list", "--json"],
                     ["config", "check", "--json"], ["export", "--json"], ["mail", "test", "--to", "a@wuding.example"]):
            done = subprocess.run([*tracker, *args], env=env, capture_output=True, text=True, timeout=120)
            outputs.append(done.stdout + done.stderr)
        assert len(recorder.messages) == 30
        wrong = {**env, "TRACKER_SMTP_PASSWORD": SECRET + "-wrong"}
        failed = subprocess.run([*tracker, "mail", "test", "--to", "a@wuding.example"], env=wrong, capture_output=True,
                                text=True, timeout=120)
        assert failed.returncode == 1 and "拒绝了用户名或密码" in failed.stderr
        outputs.append(failed.stdout + failed.stderr)
    finally:
        controller.stop()
    assert all(SECRET not in out for out in outputs)
    assert SECRET not in seeded.config.read_text()
    if seeded.backend == "sqlite":
        assert SECRET.encode() not in seeded.db_path.read_bytes()
