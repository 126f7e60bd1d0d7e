"""The weekly job's workbook is written by a process of its own from the ledger's blocks as the report finds them
(notifications.workbook_process), and deflated by zlib-ng (issue 17, the whole job at province in 3 s): the same
workbook as the report command writes in-process, and every way the writer can fail is the job's error, with nothing
stored, no file and no process left behind."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import os
import pickle
import resource
import signal
import subprocess
import sys
import tempfile
import zipfile
import zoneinfo

import pytest
from openpyxl import load_workbook

from notifications import ledger_sheet, weekly, workbook_process, xlsx
from schedules import jobs
from tests.conftest import use_smtp
from tests.test_weekly_third_pass import _report
from tracker import report as report_module
from tracker.calendar import WorkCalendar
from tracker.db import make_engine
from tracker.queries import DERIVED, LightRules

AS_OF = "2020-10-12"  # a Monday: the week's report day


def _parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture
def private_temp(tmp_path, monkeypatch):
    """A temporary folder of the test's own, to see that the job leaves nothing in it."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.clock
def test_the_daemons_workbook_is_the_one_the_report_command_writes(seeded, smtp_server, private_temp):
    """The daemon's job (writer process, 台账 sent in blocks) against ``report weekly --xlsx`` (in-process): every part
    of the file, the shared strings' numbering included, is the same byte for byte once unzipped."""
    use_smtp(seeded, smtp_server.port)
    seeded("status", "2", "--unit", "县财政局", "--set", "done", "--on", "2020-10-01", "--note", "已完成 & <公开>", "--today", "2020-10-09")
    seeded("run", "--once", "--today", AS_OF)
    report = next(m for m in smtp_server.recorder.messages if "工作进度通报" in str(m["Subject"]))
    parsed = email.message_from_bytes(report.as_bytes(), policy=email.policy.SMTP)
    [attachment] = list(parsed.iter_attachments())  # type: ignore[attr-defined]
    mailed = attachment.get_content()
    written = seeded.home / "台账.xlsx"
    seeded("report", "weekly", "--as-of", AS_OF, "--xlsx", str(written))
    assert _parts(mailed) == _parts(written.read_bytes())
    rows = list(load_workbook(io.BytesIO(mailed))["台账"].iter_rows(values_only=True))
    assert any(r[3] == "县财政局" and r[11] == "已完成 & <公开>" for r in rows)
    assert list(private_temp.iterdir()) == []


def test_rows_passed_on_in_blocks_make_the_sheet_the_held_ledger_makes(monkeypatch):
    """Blocks of two rows, with occurrences, notes and units first met in later blocks: the 台账's XML is the held
    ledger's, character for character (texts are numbered by row over the whole ledger, not per block)."""
    held = _report().ledger
    monkeypatch.setattr(report_module, "SINK_ROWS", 2)
    blocks: list[report_module.LedgerBlock] = []
    sink_ledger = report_module.Ledger(sink=blocks.append)
    for view in _views_of(held):
        item = sink_ledger.add_item(view)
        for assignment in view.principals:  # a row at a time: a block may end inside an item
            sink_ledger.add(item, assignment)
    sink_ledger.finish()
    assert len(blocks) > 10 and any(b.texts for b in blocks[1:]) and any(b.units for b in blocks[1:])
    lights = weekly.light_cells()

    def sheet(source):
        return list(ledger_sheet.ledger_rows(source, lights, DERIVED, xlsx.Cells(xlsx.SharedStrings())))

    assert sheet(blocks) == sheet(held.blocks())
    with pytest.raises(RuntimeError, match="passed on"):
        list(sink_ledger)


def _views_of(ledger: report_module.Ledger):
    """The held ledger's rows again as item views, item by item, for a second ledger."""
    from tracker.queries import AssignmentView, ItemView

    by_item: dict[int, list] = {}
    units, words, day = ledger.unit_names, ledger.words, dt.date.fromordinal
    for (item, unit, status, light, due, effective, completed, days, progress, text) in ledger.compact():
        occurrence, note, evidence = text
        by_item.setdefault(item, []).append(AssignmentView(
            0, "", units[unit], unit, "principal", words[status], progress, day(completed) if completed else None,
            day(due) if due else None, day(effective) if effective else None, False, words[status], words[light], days,
            note, evidence, occurrence))
    for number, (key, task, title, plan) in enumerate(ledger.items):
        item = type("Item", (), {"key": key, "title": title})()
        yield ItemView(item=item, task_title=task, rule=None, due=None, waiting_for=None, lead=[], guiding=[],  # type: ignore[arg-type]
                       principals=by_item.get(number, []), plan=plan)


def _job(cli, **settings):
    engine = make_engine(cli.absolute_url)
    report = jobs.ReportSettings(title="进度通报", recipients=("县政府办公室",), sender="tracker@wuding.example", weekday=0,
                                 lights=LightRules(), tz=zoneinfo.ZoneInfo("Asia/Shanghai"), folder=cli.home / "reports", **settings)
    try:
        return jobs.weekly_report_job(engine, report, WorkCalendar(), dt.date.fromisoformat(AS_OF),
                                      dt.datetime(2020, 10, 12, 8, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai")))
    finally:
        engine.dispose()


class _Recorded(workbook_process.WorkbookProcess):
    made: list[workbook_process.WorkbookProcess] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _Recorded.made.append(self)


@pytest.fixture
def recorded(monkeypatch):
    _Recorded.made = []
    monkeypatch.setattr(jobs, "WorkbookProcess", _Recorded)
    return _Recorded.made


def test_a_writer_killed_midway_fails_the_job_with_its_reason_and_nothing_is_stored(seeded, recorded, private_temp,
                                                                                   monkeypatch):
    monkeypatch.setattr(report_module, "SINK_ROWS", 5)
    sent = []
    original = _Recorded.send

    def send(self, block):
        sent.append(1)
        if len(sent) == 3:
            self._process.kill()
            self._process.wait()
        original(self, block)

    monkeypatch.setattr(_Recorded, "send", send)
    before = seeded.snapshot()
    with pytest.raises(workbook_process.WorkbookError) as failed:
        _job(seeded)
    assert "写入 Excel 台账的进程失败（退出码 -9）：进程被信号 SIGKILL 终止" in str(failed.value)
    assert "今天内运行 tracker run --once 重新生成" in str(failed.value)
    assert seeded.snapshot() == before
    [writer] = recorded
    assert writer._process.returncode is not None and writer._file.closed
    assert list(private_temp.iterdir()) == []


def test_a_failure_in_the_job_ends_the_writer_and_removes_its_file(seeded, recorded, private_temp, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("模拟：渲染失败")

    monkeypatch.setattr(weekly, "_bodies", broken)  # after the writer was sent everything, while it completes the file
    before = seeded.snapshot()
    with pytest.raises(RuntimeError, match="模拟"):
        _job(seeded)
    assert seeded.snapshot() == before
    [writer] = recorded
    assert writer._process.returncode is not None and writer._file.closed
    assert list(private_temp.iterdir()) == []


def test_the_job_with_the_writer_stores_the_report_once(seeded, recorded, private_temp):
    outcome = _job(seeded)
    assert outcome.generated
    [writer] = recorded
    assert writer._process.returncode == 0 and writer._file.closed
    assert 5 * 1024 * 1024 < writer.peak_bytes < 200 * 1024 * 1024  # as the writer measured itself (Linux /proc)
    assert not _job(seeded).generated and len(recorded) == 1  # the week's report is made once: no second writer
    assert list(private_temp.iterdir()) == []


def _child(frames: list[tuple], target) -> subprocess.CompletedProcess:
    """The writer as the job starts it, given ``frames`` on its input and ``target``'s descriptor to write into."""
    data = io.BytesIO()
    for frame in frames:
        pickle.dump(frame, data)
    return subprocess.run([sys.executable, "-P", "-c", workbook_process._CHILD, workbook_process._ROOT, str(target.fileno())],
                          input=data.getvalue(), capture_output=True, pass_fds=(target.fileno(),), check=False)


def test_the_writer_refuses_input_that_stops_before_the_summary(tmp_path):
    """The job died halfway: the writer says so in Chinese and exits 1."""
    with tempfile.TemporaryFile() as target:
        done = _child([("start", workbook_process.PROTOCOL, weekly.light_cells(), dict(DERIVED))], target)
    assert done.returncode == 1
    assert done.stderr.decode("utf-8").strip() == "周报任务在发来汇总表之前就中止了"


def test_a_writer_from_newer_code_refuses_an_older_jobs_frames():
    """The daemon still runs the old code after an upgrade, and the writer it starts loads the new code from disk."""
    with tempfile.TemporaryFile() as target:
        done = _child([("start", workbook_process.PROTOCOL - 1, {}, {})], target)
    assert done.returncode == 1
    assert "请重启 tracker run" in done.stderr.decode("utf-8")


def test_the_writer_outlives_a_sigterm_so_a_stopping_daemon_finishes_the_weekly_job():
    """A service manager's stop reaches every process of the service; the daemon finishes its running job, and the
    writer must too."""
    report = _report()
    with workbook_process.WorkbookProcess(weekly.light_cells(), DERIVED) as writer:
        for block in report.ledger.blocks():
            writer.send(block)
        os.kill(writer._process.pid, signal.SIGTERM)
        writer.complete(weekly.summary_rows(report))
        written = writer.wait()
        written.seek(0)
        data = written.read()
    assert _parts(data) == _parts(weekly.render_xlsx(report))


def test_a_full_disk_is_said_in_chinese_with_the_folder_to_change(monkeypatch):
    report = _report()
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (3000, limit[1]))  # the writer starts with it; this process gets it back
    try:
        writer = workbook_process.WorkbookProcess(weekly.light_cells(), DERIVED)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
    with writer, pytest.raises(workbook_process.WorkbookError) as failed:
        for block in report.ledger.blocks():
            writer.send(block)
        writer.complete(weekly.summary_rows(report))
        writer.wait()
    said = str(failed.value)
    assert "写入临时文件失败：文件超过系统允许的大小" in said and f"临时文件夹 {tempfile.gettempdir()}" in said and "TMPDIR" in said
    assert "Errno" not in said


def test_texts_past_the_first_array_of_a_held_ledger_stay_in_the_sheet(monkeypatch):
    """A held ledger keeps its rows in arrays of ``_PER_ARRAY`` numbers (65,536 rows; here one item's rows each):
    occurrences, notes and evidence of rows in later arrays are in the sheet as in the first."""
    monkeypatch.setattr(report_module, "_PER_ARRAY", report_module._WIDTH)
    report = _report()
    assert len(report.ledger._arrays) == 3
    rows = list(load_workbook(io.BytesIO(weekly.render_xlsx(report)))["台账"].iter_rows(min_row=2, values_only=True))
    expected = list(report.ledger)
    assert len(rows) == len(expected) == 90
    assert [(r[0], r[11] or "", r[12] or "") for r in rows] == [
        (e.item + f"（{e.occurrence}期）" if e.occurrence else e.item, e.note, e.evidence) for e in expected]
    assert any(e.occurrence or e.note for e in expected[60:])


def test_every_sheet_is_deflated_by_zlib_ng(monkeypatch):
    made = []
    original = xlsx.zlib_ng.compressobj
    monkeypatch.setattr(xlsx.zlib_ng, "compressobj", lambda *a: made.append(a) or original(*a))
    data = weekly.render_xlsx(_report())
    assert len(made) == 2 and all(a[0] == xlsx.COMPRESS_LEVEL for a in made)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_DEFLATED}


def _stored_mail(cli) -> email.message.EmailMessage:
    engine = make_engine(cli.absolute_url)
    try:
        with engine.connect() as connection:
            [raw] = connection.exec_driver_sql("SELECT raw FROM outboxbody").scalars().all()
    finally:
        engine.dispose()
    return email.message_from_string(raw, policy=email.policy.SMTP)  # type: ignore[return-value]


@pytest.mark.parametrize("guess", ["attached", "kept"])
def test_bodies_made_before_the_file_was_complete_are_made_again_when_it_turns_out_too_large(seeded, recorded, monkeypatch,
                                                                                            guess):
    """The bodies are made for an attached workbook while the writer completes it; a workbook that then turns out over
    the limit gets bodies saying where it is kept, whatever the early guess was."""
    monkeypatch.setattr(_Recorded, "written_bytes", lambda self: 0 if guess == "attached" else 10 ** 9)
    made = []
    original = weekly._bodies
    monkeypatch.setattr(weekly, "_bodies", lambda report, kept, units_max: (made.append(kept), original(report, kept, units_max))[1])
    assert _job(seeded, attachment_max_bytes=100).generated
    kept = (seeded.home / "reports" / f"工作进度台账_{AS_OF}.xlsx").resolve()
    assert [k.kept_at if k else None for k in made] == ([None, kept] if guess == "attached" else [kept])
    mail = _stored_mail(seeded)
    assert list(mail.iter_attachments()) == []
    for part in ("plain", "html"):
        body = mail.get_body((part,)).get_content()
        assert f"已保存在 {kept}" in body and "见附件" not in body
    assert load_workbook(kept)["台账"].max_row > 1


def test_bodies_made_before_the_file_was_complete_are_the_mails_when_it_is_attached(seeded, recorded, monkeypatch):
    made = []
    original = weekly._bodies
    monkeypatch.setattr(weekly, "_bodies", lambda report, kept, units_max: (made.append(kept), original(report, kept, units_max))[1])
    assert _job(seeded).generated
    assert made == [None]  # rendered once, before the writer was done
    mail = _stored_mail(seeded)
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == f"工作进度台账_{AS_OF}.xlsx"
    assert "详细台账见附件 Excel" in mail.get_body(("plain",)).get_content()
    assert not (seeded.home / "reports").exists()


def test_files_in_the_daemons_working_folder_are_not_imported_by_the_writer(tmp_path, monkeypatch):
    """The writer is started with ``-P``: a stray zipfile.py or notifications/ where the daemon runs is not imported."""
    (tmp_path / "zipfile.py").write_text("raise SystemExit('shadowed zipfile')\n", "utf-8")
    (tmp_path / "notifications").mkdir()
    (tmp_path / "notifications" / "__init__.py").write_text("raise SystemExit('shadowed notifications')\n", "utf-8")
    monkeypatch.chdir(tmp_path)
    report = _report()
    with workbook_process.WorkbookProcess(weekly.light_cells(), DERIVED) as writer:
        for block in report.ledger.blocks():
            writer.send(block)
        writer.complete(weekly.summary_rows(report))
        written = writer.wait()
        written.seek(0)
        assert _parts(written.read()) == _parts(weekly.render_xlsx(report))


@pytest.mark.parametrize(("output", "peak"), [
    (b"VmHWM:\t   53212 kB\n", 53212 * 1024),
    (b"a warning that ends in a number: line 42\nVmHWM:  1000 kB\n", 1000 * 1024),
    (b"a warning that ends in a number: line 42\n\n", None),  # no /proc: the writer said nothing of its peak
    (b"VmHWM: 12 MB\n", None),
    (b"", None),
])
def test_the_writers_peak_is_read_from_its_last_line_only(output, peak):
    with tempfile.TemporaryFile() as said:
        said.write(b"x" * 5000 + b"\n" + output)
        assert workbook_process._peak_said(said) == peak
