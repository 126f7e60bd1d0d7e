"""Issue 12 point 8: bad inputs found by the adversarial run are detected or refused, in Chinese, exit 1.

Encodings (UTF-16 with and without BOM, Big5), NUL bytes, FIFOs, devices, oversized files,
unreadable files and configurations, read-only or full databases, unreachable PostgreSQL: each
is one line saying what and where, never a traceback, and the database is unchanged.
"""

from __future__ import annotations

import codecs
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tracker.errors import PlanImportError
from tracker.tablefile import decode

PLAN = "\t序号\n\t工作任务\n\t责任单位\n\t时限要求\n\n\t1\n\t制定工作要点一\n\t县财政局\n\t2020年10月底前\n"
TRADITIONAL = "\t序號\n\t工作任務\n\t責任單位\n\t時限要求\n\n\t1\n\t制定工作要點\n\t縣財政局\n\t2020年10月底前\n"


@pytest.mark.parametrize("encoding, bom, expected", [
    ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16-le"), ("utf-16-be", codecs.BOM_UTF16_BE, "utf-16-be"),
    ("utf-16-le", b"", "utf-16-le"), ("utf-16-be", b"", "utf-16-be"),
    ("utf-8", codecs.BOM_UTF8, "utf-8"), ("gbk", b"", "gbk"),
])
def test_encodings_are_detected(encoding, bom, expected):
    text, found = decode(bom + PLAN.encode(encoding), "附件1.txt")
    assert (text, found) == (PLAN, expected)  # 一 is U+4E00: a NUL byte inside a character does not confuse the detection


def test_big5_binary_and_nul_bytes_are_refused_with_the_reason():
    with pytest.raises(PlanImportError, match="Big5"):
        decode(TRADITIONAL.encode("big5"), "附件1.txt")
    with pytest.raises(PlanImportError, match=r"Word 或 Excel（\.docx/\.xlsx）"):
        decode(b"PK\x03\x04" + b"\x00" * 40, "附件1.docx")
    broken = PLAN.replace("制定工作要点一", "制定工作\x00要点").encode("utf-8")
    with pytest.raises(PlanImportError, match="附件1.txt 第 7 行：这一行含有空字符"):
        decode(broken, "附件1.txt")


def test_utf16_plan_imports_and_big5_is_refused_at_the_command(seeded, tmp_path):
    plan = tmp_path / "plan16.txt"
    plan.write_bytes(PLAN.encode("utf-16-le"))
    preview = seeded("import", str(plan), "--dry-run")
    assert "编码 utf-16-le" in preview.stdout
    before = seeded.snapshot()
    big5 = tmp_path / "big5.txt"
    big5.write_bytes(TRADITIONAL.encode("big5"))
    refused = seeded("import", str(big5), ok=False)
    assert refused.exit_code == 1 and "Big5" in refused.stderr and "Word" not in refused.stderr
    assert seeded.snapshot() == before


def test_fifo_device_and_oversized_files_are_refused_before_reading(seeded, tmp_path):
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)  # reading it would block forever: the check must come first
    for path, reason in ((fifo, "管道"), (Path("/dev/zero"), "设备文件"), (tmp_path, "文件夹"),
                         (tmp_path / "missing.txt", "找不到这个文件")):
        result = seeded("import", str(path), ok=False)
        assert result.exit_code == 1 and reason in result.stderr, result.output
    sparse = tmp_path / "huge.txt"
    with sparse.open("wb") as handle:
        handle.truncate(60 * 1024 * 1024)  # 60 MB without writing them
    result = seeded("import", str(sparse), ok=False)
    assert result.exit_code == 1 and "超过了上限 50 MB" in result.stderr and "general.max_file_mb" in result.stderr
    seeded.config.write_text(seeded.config.read_text("utf-8") + "\n[general]\nmax_file_mb = 0.0001\n", "utf-8")
    small = tmp_path / "plan.txt"
    small.write_text(PLAN * 3, "utf-8")
    result = seeded("import", str(small), "--dry-run", ok=False)
    assert result.exit_code == 1 and "超过了上限" in result.stderr


def test_unreachable_postgresql_is_one_line(cli):
    cli.write_config()
    cli.config.write_text('[database]\nurl = "postgresql+psycopg://tracker@127.0.0.1:1/tracker"\n', "utf-8")
    result = cli("items", "list", ok=False)
    assert result.exit_code == 1 and "无法连接数据库 postgresql+psycopg://tracker@127.0.0.1:1/tracker" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_the_holiday_warning_appears_in_every_command_that_computes_dates(seeded):
    warning = "2027 年的法定节假日和调休安排未知"
    for args in (("items", "list", "--today", "2027-03-01"), ("items", "list", "--today", "2027-03-01", "--json"),
                 ("show", "2", "--today", "2027-03-01"), ("report", "weekly", "--as-of", "2027-03-01", "--json"),
                 ("remind", "--dry-run", "--today", "2027-03-01")):
        result = seeded(*args)
        assert result.stderr.count(warning) == 1, (args, result.stderr)
    assert warning not in seeded("items", "list", "--today", "2020-10-12").stderr


TRACKER = [sys.executable, "-c", "from tracker.cli.app import main; main()"]


def _nobody(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run tracker as an unprivileged user: root reads and writes anything, so permissions can only be tested so."""
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *TRACKER, *args], cwd=cwd,
                          env={**os.environ, "HOME": str(cwd)}, capture_output=True, text=True, timeout=120)


@pytest.fixture
def shared_dir():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a command as another user")
    folder = Path(tempfile.mkdtemp(prefix="tracker-perm-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder)


def _one_chinese_line(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and words in done.stderr, done.stderr
    assert done.stderr.strip().startswith("错误：") and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_permissions_unreadable_files_config_and_read_only_database(shared_dir):
    config = shared_dir / "config.toml"
    config.write_text('[database]\nurl = "sqlite:///tracker.db"\n', "utf-8")
    config.chmod(0o644)
    init = _nobody(["--config", str(config), "init", "--start", "2020-08-01"], shared_dir)
    assert init.returncode == 0, init.stderr
    plan = shared_dir / "secret-plan.txt"
    plan.write_text(PLAN, "utf-8")
    plan.chmod(0o600)  # root's file
    _one_chinese_line(_nobody(["--config", str(config), "import", str(plan), "--dry-run"], shared_dir), "没有读取这个文件的权限")
    locked = shared_dir / "locked"
    locked.mkdir(mode=0o755)  # root's folder
    _one_chinese_line(_nobody(["--config", str(config), "report", "weekly", "--as-of", "2020-10-12", "--out",
                               str(locked / "r.html")], shared_dir), "没有权限在文件夹")
    for name in ("tracker.db", "tracker.db-wal", "tracker.db-shm"):
        if (shared_dir / name).exists():
            os.chown(shared_dir / name, 0, 0)
            (shared_dir / name).chmod(0o644)
    _one_chinese_line(_nobody(["--config", str(config), "status", "2", "--unit", "县财政局", "--progress", "10",
                               "--today", "2020-10-12"], shared_dir), "数据库")
    config.chmod(0o600)
    os.chown(config, 0, 0)
    _one_chinese_line(_nobody(["--config", str(config), "items", "list"], shared_dir), "没有读取配置文件")


def test_a_full_disk_under_the_database_is_one_line(tmp_path, sqlite_only, cli):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    try:
        cli.config.write_text(f'[database]\nurl = "sqlite:///{mount}/tracker.db"\n', "utf-8")
        cli("init", "--start", "2020-08-01")
        filler = mount / "filler"
        with filler.open("wb", buffering=0) as handle:  # take every free block, as another program would
            try:
                while True:
                    handle.write(b"\0" * 4096)
            except OSError:
                pass
        results = [cli("status", "2", "--unit", "各乡镇", "--progress", str(p), "--note", "进度" * 2000,
                       "--today", "2020-10-12", ok=False) for p in (10, 20, 30)]
        failed = [r for r in results if r.exit_code]
        assert failed, "the writes should not all fit on a full disk"
        for result in failed:
            assert result.exit_code == 1 and "磁盘" in result.stderr and "Traceback" not in result.output, result.output
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
