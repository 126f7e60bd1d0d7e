"""Issue 12 point 5 (and issue 11): output files never clobber data.

`report weekly --xlsx tracker.db` once overwrote the live database and exited 0; `--out` into a
missing folder printed a traceback. Output paths are checked before any work, written through a
temporary file and renamed, replaced only with --force, and get the database's permissions.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tracker.outfiles import write_file


def _weekly(cli, *args: str, ok: bool = True):
    return cli("report", "weekly", "--as-of", "2020-10-12", *args, ok=ok)


def test_the_database_and_the_configuration_are_never_overwritten(seeded, sqlite_only):
    before = seeded.snapshot()
    config = seeded.config.read_text("utf-8")
    for option, target in (("--xlsx", seeded.db_path), ("--out", seeded.db_path), ("--xlsx", seeded.config),
                           ("--out", Path(f"{seeded.db_path}-wal"))):
        for force in ((), ("--force",)):
            result = _weekly(seeded, option, str(target), *force, ok=False)
            assert result.exit_code == 1 and "是本系统的数据库或配置文件，不能覆盖" in result.stderr, result.output
    assert seeded.db_path.read_bytes().startswith(b"SQLite format 3\x00")
    assert seeded.snapshot() == before and seeded.config.read_text("utf-8") == config
    assert seeded.json("items", "list", "--today", "2020-10-12")  # the database still works


def test_folders_missing_folders_and_existing_files_are_refused(seeded, tmp_path):
    missing = _weekly(seeded, "--out", "/nonexistent/dir/r.html", ok=False)
    assert missing.exit_code == 1 and missing.exception is not None
    assert "输出文件夹 /nonexistent/dir 不存在" in missing.stderr and "Traceback" not in missing.output
    reports = tmp_path / "reports"
    reports.mkdir()
    folder = _weekly(seeded, "--xlsx", str(reports), ok=False)
    assert folder.exit_code == 1 and "是一个文件夹" in folder.stderr
    same = _weekly(seeded, "--out", str(reports / "a"), "--xlsx", str(reports / "a"), ok=False)
    assert same.exit_code == 1 and "同一个文件" in same.stderr

    page = reports / "通报.html"
    page.write_text("上周的通报", "utf-8")
    refused = _weekly(seeded, "--out", str(page), ok=False)
    assert refused.exit_code == 1 and "已存在，未覆盖" in refused.stderr and "--force" in refused.stderr
    assert page.read_text("utf-8") == "上周的通报"
    _weekly(seeded, "--out", str(page), "--force")
    assert "工作进度通报" in page.read_text("utf-8")
    assert sorted(p.name for p in reports.iterdir()) == ["通报.html"]  # no temporary file left behind


def test_reports_get_the_permissions_of_the_database(seeded, tmp_path, sqlite_only):
    assert seeded.db_path.stat().st_mode & 0o777 == 0o600
    os.umask(0o022)
    page, book = tmp_path / "通报.html", tmp_path / "台账.xlsx"
    result = _weekly(seeded, "--out", str(page), "--xlsx", str(book))
    assert f"Excel 台账已写入 {book}" in result.stdout
    assert page.stat().st_mode & 0o777 == 0o600 and book.stat().st_mode & 0o777 == 0o600
    assert load_workbook(book).sheetnames == ["汇总", "台账"]


def _small_disk(tmp_path: Path) -> Path:
    """A real full disk: a 64 KiB tmpfs (needs root, which CI has)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    return mount


def test_a_full_disk_leaves_the_old_file_and_no_partial_one(seeded, tmp_path):
    mount = _small_disk(tmp_path)
    try:
        book = mount / "台账.xlsx"
        book.write_bytes(b"old workbook")
        result = _weekly(seeded, "--xlsx", str(book), "--out", str(mount / "通报.html"), "--force", ok=False)
        assert result.exit_code == 1 and "磁盘已满" in result.stderr and "原有文件（如有）保持不变" in result.stderr
        assert "Traceback" not in result.output
        assert book.read_bytes() == b"old workbook"
        leftovers = sorted(p.name for p in mount.iterdir())
        assert all(not name.endswith(".part") for name in leftovers) and all(
            (mount / name).stat().st_size > 0 for name in leftovers)
        with pytest.raises(OSError):
            write_file(mount / "big.bin", b"x" * 200_000)
        assert not (mount / "big.bin").exists() and not [p for p in mount.iterdir() if p.name.endswith(".part")]
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_simulate_refuses_a_file_as_its_mail_folder(seeded, sqlite_only):
    before = seeded.snapshot()
    result = seeded("simulate", "--from", "2020-09-01", "--to", "2020-09-02", "--out", str(seeded.db_path), ok=False)
    assert result.exit_code == 1 and "是一个文件" in result.stderr
    assert seeded.snapshot() == before
