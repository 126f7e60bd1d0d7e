"""What a command loads before it answers: the command table and the import boundary of read commands.

`tracker --help` and the read commands (items list, show, remind --dry-run) must not import the code
of commands they do not run: mail delivery, the scheduler, migrations, Excel and Word, templates.
Each case runs the real `tracker` in a fresh interpreter and reads ``sys.modules`` at exit; no times
are asserted here (they are in BENCHMARKS.md).
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

import tracker.cli
from tracker.cli.app import COMMANDS, app

ROOT = Path(__file__).resolve().parent.parent

# Loaded by no read command: delivery and robots, the daemon, migrations, office files, templates, calendars.
NEVER_FOR_READING = ("notifications", "schedules", "aiosmtplib", "apscheduler", "alembic", "openpyxl", "jinja2",
                     "docx", "lxml", "httpx", "icalendar")
# What looking at the plan does not use: the plan importer and office-file readers, plan sync, the directory's e-mail
# summary, the reminder rules and the ledger (only `remind` uses those two).
WRITING_ONLY = ("tracker.importer", "tracker.officefile", "tracker.tablefile", "tracker.plan_sync", "tracker.plan_directory",
                "tracker.contact_list", "tracker.cli.directory_output", "tracker.ledger")
DATABASE_AND_MODELS = ("sqlalchemy", "sqlmodel", "pydantic", "tracker.models", "tracker.db", "tracker.config")

_PROBE = """
import atexit, json, os, sys
def _dump():
    with open(os.environ["MODULES_OUT"], "w") as out:
        json.dump(sorted(sys.modules), out)
atexit.register(_dump)
sys.argv = ["tracker", *sys.argv[1:]]
from tracker.cli.app import main
main()
"""


def loaded_by(*args: str, cwd: Path) -> set[str]:
    """The modules a `tracker` process has imported when it exits (its stdout into a pipe, as a script reads it)."""
    out = cwd / "modules.json"
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MODULES_OUT": str(out), "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr
    return set(json.loads(out.read_text()))


def _within(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


def _command_modules() -> list[str]:
    return [f"tracker.cli.{m.name}" for m in pkgutil.iter_modules(tracker.cli.__path__) if m.name.endswith("_commands")]


def test_the_table_names_every_command_with_its_own_panel_and_help_line():
    """The root lists commands without importing them, so the table must say what each module defines."""
    for module in _command_modules():
        importlib.import_module(module)
    group = typer.main.get_group(app)
    for name, command in group.commands.items():
        assert name in COMMANDS, f"{name} 没有写进 tracker/cli/app.py 的 COMMANDS"
        entry = COMMANDS[name]
        summary = (command.short_help or (command.help or "").strip().split("\n")[0]).strip()
        assert (entry.panel, entry.summary) == (command.rich_help_panel, summary), name
        defined_in = {getattr(command.callback, "__module__", None)}
        for sub in getattr(command, "commands", {}).values():
            defined_in.add(sub.callback.__module__)
        defined_in -= {None, "typer.main"}  # a sub-app has no callback of its own
        assert defined_in <= set(entry.modules), (name, defined_in, entry.modules)
    assert set(COMMANDS) == set(group.commands), set(COMMANDS) ^ set(group.commands)


def test_help_loads_no_command_module_and_no_database_code(tmp_path):
    loaded = loaded_by("--help", cwd=tmp_path)
    assert _within(loaded, (*NEVER_FOR_READING, *DATABASE_AND_MODELS, "rich")) == []
    assert [m for m in loaded if m.endswith("_commands")] == []


def test_the_help_page_lists_every_command_in_its_panel_in_chinese(tmp_path):
    done = subprocess.run([sys.executable, "-c", "from tracker.cli.app import main; main()", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0
    page = done.stdout
    for name, entry in COMMANDS.items():
        panel = page.index(f"\n{entry.panel}：\n")
        line = next(line for line in page.splitlines() if line.split()[:1] == [name])
        assert line.split(None, 1)[1] == entry.summary
        assert page.index(line) > panel
        later = [page.index(f"\n{p}：\n") for p in ("设置", "计划", "状态", "提醒", "报告", "维护") if page.index(f"\n{p}：\n") > panel]
        assert page.index(line) < min(later, default=len(page))
    positions = [page.index(f"\n{p}：\n") for p in ("设置", "计划", "状态", "提醒", "报告", "维护")]
    assert positions == sorted(positions)


@pytest.mark.parametrize("args, command_modules, may_use", [
    (("items", "list", "--json"), {"tracker.cli.item_commands"}, ()),
    (("items", "list", "--overdue", "--json"), {"tracker.cli.item_commands"}, ()),
    (("show", "1", "--json"), {"tracker.cli.item_commands"}, ()),
    (("remind", "--dry-run", "--today", "2020-10-09"), {"tracker.cli.remind_commands"}, ("rich", "tracker.directory", "tracker.ledger", "tracker.tablefile")),
])
def test_a_read_command_loads_only_what_it_uses(seeded, args, command_modules, may_use):
    if seeded.backend != "sqlite":
        pytest.skip("the import boundary does not depend on the database")
    loaded = loaded_by("--config", str(seeded.config), *args, "--today", "2020-10-09", cwd=seeded.home) if "--today" not in args \
        else loaded_by("--config", str(seeded.config), *args, cwd=seeded.home)
    assert _within(loaded, NEVER_FOR_READING) == []
    assert {m for m in loaded if m.endswith("_commands")} == command_modules
    if "rich" not in may_use:  # JSON into a pipe: nothing is printed through rich
        assert _within(loaded, ("rich",)) == []
    assert _within(loaded, tuple(m for m in WRITING_ONLY if m not in may_use)) == []
    if args[0] in ("items", "show"):  # the reminder rules and the directory code are for remind and `items list --unit`
        assert _within(loaded, ("tracker.reminders", "tracker.directory", "tracker.channels")) == []
    if args[0] == "items":  # finding one item by its number is for show
        assert "tracker.status" not in loaded


def test_table_models_build_their_validators_only_when_asked(seeded):
    """Rows come from SQLAlchemy, unvalidated: the tables' pydantic validators are not built at import (a large part of
    every command's start-up), yet a row still dumps and validates as before when something asks for it."""
    probe = """
import datetime as dt, json, sys
from tracker import models
built = [m.__name__ for m in (models.Unit, models.Item, models.Assignment, models.JournalEntry) if m.__pydantic_complete__]
unit = models.Unit(name="县教育体育局", kind="department", emails=["a@b.cn"])
print(json.dumps({"built": built, "dump": unit.model_dump(), "valid": models.Unit.model_validate({"name": "x", "kind": "office"}).kind}))
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["built"] == []
    assert found["dump"] == {"id": None, "name": "县教育体育局", "kind": "department", "parent_id": None, "via_id": None,
                             "emails": ["a@b.cn"], "aliases": [], "contact": "", "phone": "", "mobiles": []}
    assert found["valid"] == "office"


def test_remind_json_renders_subjects_with_templates_but_loads_no_delivery(seeded, tmp_path):
    if seeded.backend != "sqlite":
        pytest.skip("the import boundary does not depend on the database")
    loaded = loaded_by("--config", str(seeded.config), "remind", "--dry-run", "--today", "2020-10-09", "--json", cwd=seeded.home)
    assert "jinja2" in loaded and "notifications.render" in loaded
    assert _within(loaded, ("schedules", "aiosmtplib", "apscheduler", "alembic", "openpyxl", "notifications.delivery",
                            "notifications.transports", "httpx")) == []


def test_a_command_still_reports_a_database_failure_in_one_chinese_line(cli):
    """Database errors are recognised without importing SQLAlchemy at the root: still one line, exit 1."""
    if cli.backend != "sqlite":
        pytest.skip("about the SQLite file")
    broken = cli.home / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    cli.config.write_text(f'[database]\nurl = "sqlite:///{broken}"\n', encoding="utf-8")
    result = cli("items", "list", ok=False)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("错误：") and "不是 SQLite 数据库" in result.stderr and "Traceback" not in result.stderr
