"""Issue 12 point 9 and issue 11: the folder transport never leaves an empty .eml, and `outbox list`
shows what a person needs: subject, the file of each message, when the next attempt is due."""

from __future__ import annotations

import datetime as dt
import email
import json
import subprocess
from email import policy

import pytest

from tests.conftest import use_smtp
from tests.smtp_server import free_port


def test_eml_files_are_named_so_a_person_can_match_them(seeded):
    seeded("run", "--once", "--today", "2020-09-23")
    rows = seeded.json("outbox", "list")
    assert len(rows) == 29
    for row in rows:
        path = seeded.home / "outbox" / f"2020-09-23_{row['recipient']}_{row['id']}.eml"
        assert row["file"] == str(path) and path.stat().st_size > 0
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert message["Message-ID"] == row["message_id"] and message["Subject"] == row["subject"]
        assert row["sent_at"].endswith("+08:00") and dt.datetime.fromisoformat(row["sent_at"]).date() == dt.date(2020, 9, 23)
    assert not [p for p in (seeded.home / "outbox").iterdir() if not p.name.endswith(".eml")]  # no temporary files
    listing = seeded("outbox", "list").stdout
    assert "主题" in listing and "2020-09-23_县财政局_" in listing and "+08:00" in listing


def test_next_attempt_is_listed_with_the_zone(seeded):
    use_smtp(seeded, free_port())  # nobody listens: every message waits
    result = seeded("run", "--once", "--today", "2020-09-23", "--json", ok=False)
    assert result.exit_code == 0
    rows = seeded.json("outbox", "list", "--state", "pending")
    [waiting] = [m for m in rows if m["attempts"] == 1]
    assert waiting["next_attempt_at"].endswith("+08:00") and "无法连接" in waiting["last_error"]
    attempted = dt.datetime.fromisoformat(waiting["created_at"])  # stored and attempted in the same pass
    assert dt.timedelta(seconds=59) < dt.datetime.fromisoformat(waiting["next_attempt_at"]) - attempted <= dt.timedelta(minutes=2)
    assert all(m["next_attempt_at"] is None for m in rows if m["attempts"] == 0) and all(m["file"] is None for m in rows)
    assert "下次尝试" in seeded("outbox", "list").stdout


def test_a_full_disk_leaves_no_empty_eml_and_the_messages_wait(seeded, tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    try:
        seeded.write_config(f'\n[mail]\nfolder = "{mount}"\nretry_after_seconds = 0\n')
        result = seeded("run", "--once", "--today", "2020-09-23", "--json")
        delivery = json.loads(result.stdout)["delivery"]
        assert delivery["retrying"] == 1 and 0 < delivery["sent"] < 29
        assert any("磁盘已满" in e for e in delivery["errors"])
        files = list(mount.iterdir())
        assert len(files) == delivery["sent"] and all(f.name.endswith(".eml") and f.stat().st_size > 0 for f in files)
        states = [m["state"] for m in seeded.json("outbox", "list")]
        assert states.count("sent") == delivery["sent"] and states.count("pending") == 29 - delivery["sent"]
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
