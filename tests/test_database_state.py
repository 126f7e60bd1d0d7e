"""The database is whole and current, or every command says how to make it so (issue 12, points 3 and 7; issue 11).

`init` builds the schema, the directory and the plan in one transaction; a schema left empty by an
interrupted init of an older version is refused by every command and finished by `init`; a
database an older version made says "run tracker db upgrade"; one from before migrations is
upgraded when its tables match a known revision and refused with the way out otherwise; and the
daily check calls only the ledger's own unique conflict "another process did it".
"""

import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from tracker.db import head_revision, initialise_database, is_initialised, make_engine, upgrade_database
from tracker.ledger import is_claim_conflict

READERS = (["items", "list"], ["outbox", "list"], ["units", "list"], ["report", "weekly", "--as-of", "2020-10-12"],
           ["remind", "--dry-run", "--today", "2020-09-23"], ["export"])


def test_a_read_only_command_in_an_empty_folder_creates_nothing(cli, sqlite_only):
    for command in (*READERS, ["config", "check"], ["db", "upgrade"], ["ledger", "status"]):
        result = cli(*command, ok=False)
        assert result.exit_code == 1 and "tracker init" in (result.stderr + result.stdout), command
        assert not cli.db_path.exists(), command
    cli("init")
    assert cli.db_path.exists()


def test_a_failed_init_leaves_no_schema_behind(cli):
    engine = make_engine(cli.absolute_url)

    def fill(session):
        session.execute(text("INSERT INTO unit (name, kind, emails, aliases, contact, phone) "
                             "VALUES ('县政府办公室', 'office', '[]', '[]', '', '')"))
        raise RuntimeError("killed halfway")

    with pytest.raises(RuntimeError):
        initialise_database(engine, fill)
    assert not is_initialised(engine)
    engine.dispose()
    cli("init", "--if-missing")
    assert len(cli.json("items", "list")) == 34


def test_a_half_made_database_is_refused_everywhere_and_init_finishes_it(cli):
    engine = make_engine(cli.absolute_url)
    upgrade_database(engine)  # what an older init left when killed after the schema: tables, no data
    engine.dispose()
    for command in (*READERS, ["run", "--once", "--today", "2020-09-23"],
                    ["import", "tracker/data/wuding_plan.txt", "--dry-run"],
                    ["status", "2", "--unit", "狮山镇", "--progress", "10", "--today", "2020-09-23"]):
        result = cli(*command, ok=False)
        assert result.exit_code == 1, command
        assert "初始化没有完成" in result.stderr and "tracker init" in result.stderr, command
    finished = cli("init", "--if-missing")
    assert "已重新初始化" in finished.stdout
    assert len(cli.json("items", "list")) == 34
    assert "未做改动" in cli("init", "--if-missing").stdout


def test_init_killed_at_any_moment_leaves_nothing_or_everything(cli):
    """`init --force` killed at different moments: the database is either as before (nothing, or the last
    complete one) or complete, never half made."""
    command = [sys.executable, "-c", "from tracker.cli.app import main; main()", "--config", str(cli.config), "init", "--force"]
    for delay in (0.5, 0.9, 1.3, 1.7, 2.2, 3.0):
        process = subprocess.Popen(command, cwd=cli.home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        listing = cli("items", "list", "--json", ok=False)
        if listing.exit_code == 0:
            assert len(cli.json("items", "list")) == 34
        else:
            assert "尚未初始化" in listing.stderr, listing.stderr


def test_a_database_of_an_older_version_says_run_db_upgrade(seeded):
    _downgrade(make_engine(seeded.absolute_url), "0003")  # what an older program left: its schema, the data kept
    for command in (["items", "list"], ["run", "--once", "--today", "2020-09-23"], ["outbox", "list"]):
        result = seeded(*command, ok=False)
        assert result.exit_code == 1 and "tracker db upgrade" in result.stderr, command
        assert "no such" not in result.output.lower() and "does not exist" not in result.output
    assert seeded.json("db", "upgrade") == {"from": "0003", "to": head_revision(), "changed": True}
    assert seeded.json("run", "--once", "--today", "2020-09-23")["check"]["messages"] > 0


def _downgrade(engine, revision: str) -> None:
    """Take a database back to an older revision through the migrations' own downgrades (SQLite rebuilds tables
    with foreign keys off, as upgrades do)."""
    from alembic import command

    from tracker.db import _alembic

    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")
        with connection.begin():
            command.downgrade(_alembic(connection), revision)
        if sqlite:
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")


def _pre_migration_database(cli):
    """A database as the program made it before migrations existed: the first schema, no alembic_version."""
    engine = make_engine(cli.absolute_url)
    upgrade_database(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("INSERT INTO plan (id, title, source, checksum, plan_year, county, domain_row_principals, "
                          "lead_does_work) VALUES (1, '旧计划', 'old.txt', 'x', 2020, '武定县', 'guiding', false)"))
        conn.execute(text("INSERT INTO unit (id, name, kind, emails, aliases, contact, phone) VALUES "
                          "(1, '县政府办公室', 'office', '[\"xzfb@wuding.example\"]', '[]', '李四', '')"))
    return engine


def test_a_database_from_before_migrations_is_upgraded(cli):
    _pre_migration_database(cli).dispose()
    refused = cli("units", "list", ok=False)
    assert refused.exit_code == 1 and "tracker db upgrade" in refused.stderr
    assert cli.json("db", "upgrade") == {"from": None, "to": head_revision(), "changed": True}
    assert cli.json("units", "show", "县政府办公室")["contact"] == "李四"


def test_a_database_from_before_migrations_that_matches_no_version_is_refused(cli):
    engine = _pre_migration_database(cli)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE unit ADD COLUMN fax VARCHAR"))
    engine.dispose()
    before = cli.snapshot()
    refused = cli("db", "upgrade", ok=False)
    assert refused.exit_code == 1 and "tracker export" in refused.stderr and "tracker init" in refused.stderr
    assert cli.snapshot() == before


def test_only_the_ledger_conflict_means_another_process_did_the_check(seeded):
    engine = create_engine(seeded.absolute_url)
    with engine.begin() as conn:  # a fault that is not a claim: a constraint every second message of a day breaks
        conn.execute(text("CREATE UNIQUE INDEX one_message_a_day ON outboxmessage (run_date)"))
    before = seeded.snapshot()
    result = seeded("run", "--once", "--today", "2020-09-23", ok=False)
    assert result.exit_code == 1 and "不是另一个进程已完成" in result.stderr, result.output
    assert seeded.snapshot() == before
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX one_message_a_day"))
    seeded("run", "--once", "--today", "2020-09-23")
    with engine.connect() as conn:  # and the ledger's own conflict is recognised as the claim it is
        row = conn.execute(text("SELECT assignment_id, due_on, stage, rank, sent_on, created_at FROM notice LIMIT 1")).one()
        with pytest.raises(IntegrityError) as raised:
            conn.execute(text("INSERT INTO notice (assignment_id, due_on, stage, rank, sent_on, created_at) "
                              "VALUES (:a, :d, :s, :r, :o, :c)"), dict(zip("adsroc", row)))
        conn.rollback()
    assert is_claim_conflict(raised.value, "notice") and not is_claim_conflict(raised.value, "reportrun")
    engine.dispose()
