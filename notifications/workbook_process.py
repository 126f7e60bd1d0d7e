"""The weekly job's workbook, written by a process of its own while the report is still being built.

At a province the 台账 is 180k rows: making their XML and compressing it took as long as half of the rest of the job,
all on the job's own interpreter (the compressor's thread only overlapped part of it). The job's ledger now passes its
rows on as it finds them (``tracker.report.Ledger`` given a sink), a block at a time, to this module run as
``notifications.workbook_process.main`` in a process of its own: that process makes and compresses the 台账 on another core while
the job reads and derives the next items, and writes the 汇总 once it is sent at the end. Its memory is its own
(the job holds one block of rows at a time, not the whole ledger).

The two talk through the child's standard input, in pickled frames: ``("start", lights, labels)``, then
``("block", LedgerBlock as a tuple)`` any number of times, then ``("summary", rows)``, then end of input. The child
imports only the workbook writer and the sheets (``notifications.ledger_sheet``), and starts in a few hundredths of a
second. Its standard output and error go to a temporary file the job reads when it fails, for the error it reports.
Ctrl-C is the job's: the child ignores it, and the job ends the child when it stops (``close``).
"""

from __future__ import annotations

import fcntl
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from notifications import ledger_sheet, xlsx
from notifications.errors import NotificationError

_PROTOCOL = pickle.HIGHEST_PROTOCOL
_ROOT = Path(__file__).resolve().parent.parent
# the child finds this package where the job found it (a checkout, or site-packages), looked in last: nothing there
# can shadow the standard library
_CHILD = "import sys; sys.path.append(sys.argv.pop(1)); from notifications.workbook_process import main; sys.exit(main(sys.argv))"
_ERROR_TAIL = 2000  # characters of the child's own output quoted in the job's error


class WorkbookError(NotificationError):
    """The process writing the weekly workbook failed or could not be started."""


class WorkbookProcess:
    """The parent's side: start the writer, ``send`` it the ledger's blocks, ``finish`` with the 汇总's rows to get the
    written file; use it in a ``with`` block, which ends the writer and removes its file on any way out."""

    def __init__(self, lights: Mapping[str, xlsx.Styled], labels: Mapping[str, str]) -> None:
        handle, name = tempfile.mkstemp(prefix="weekly-", suffix=".xlsx")
        os.close(handle)
        self.path = Path(name)
        self._output = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen([sys.executable, "-c", _CHILD, str(_ROOT), name],
                                             stdin=subprocess.PIPE, stdout=self._output, stderr=self._output)
        except OSError as exc:
            self.path.unlink(missing_ok=True)
            self._output.close()
            raise WorkbookError(f"无法启动写入 Excel 台账的进程（{sys.executable}）：{exc}") from exc
        self._input: BinaryIO = self._process.stdin  # type: ignore[assignment]
        _widen(self._input)
        try:
            self._send(("start", dict(lights), dict(labels)))
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> WorkbookProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    def send(self, block: Sequence[Any]) -> None:
        """One block of the 台账's rows (a ``tracker.report.LedgerBlock``), as the ledger passes it on."""
        self._send(("block", tuple(block)))

    def finish(self, summary: list[list[object]]) -> Path:
        """Send the 汇总's rows, wait for the writer to complete the file, and return it (``close`` removes it)."""
        self._send(("summary", summary))
        try:
            self._input.close()
        except OSError as exc:
            raise self._failed() from exc
        if self._process.wait() != 0:
            raise self._failed()
        return self.path

    def close(self) -> None:
        """End the writer if it is still running, and remove its file: after ``finish`` the caller has read it."""
        if self._process.poll() is None:
            self._process.kill()
        try:
            self._input.close()
        except OSError:
            pass  # the writer was killed with input still buffered: nothing is to be read from it any more
        self._process.wait()
        self._output.close()
        self.path.unlink(missing_ok=True)

    def _send(self, frame: tuple[Any, ...]) -> None:
        try:
            pickle.dump(frame, self._input, protocol=_PROTOCOL)
        except OSError as exc:  # the writer stopped reading: it failed, and says why in its output
            raise self._failed() from exc

    def _failed(self) -> WorkbookError:
        code = self._process.wait()
        self._output.seek(0)
        said = self._output.read().decode("utf-8", "replace").strip()[-_ERROR_TAIL:]
        return WorkbookError(f"写入 Excel 台账的进程失败（退出码 {code}）：{said or '没有输出'}。周报未生成，可稍后重新运行。")


PIPE_BYTES = 1 << 20  # a few blocks: the job goes on reading while the writer is still at an earlier block


def _widen(pipe: BinaryIO) -> None:
    """Let the pipe to the writer hold ``PIPE_BYTES`` (Linux; elsewhere, or above the system's limit, it stays at its
    size: the job then waits for the writer more often, and nothing else changes)."""
    try:
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        pass


def _frames(stream: BinaryIO) -> Iterator[tuple[Any, ...]]:
    while True:
        try:
            yield pickle.load(stream)
        except EOFError:
            return


def write(stream: BinaryIO, target: BinaryIO) -> None:
    """The child's work: the workbook from the frames read from ``stream``, written into ``target``."""
    frames = _frames(stream)
    start = next(frames, None)
    if start is None or start[0] != "start":
        raise ValueError(f"输入的第一帧应为 start，实为 {start and start[0]!r}")
    _, lights, labels = start
    summary: list[list[object]] = []  # filled when the ledger's blocks are through; the 汇总 is written after the 台账

    def blocks() -> Iterator[Sequence[Any]]:
        for kind, payload in frames:
            if kind == "summary":
                summary.extend(payload)
                return
            yield payload
        raise EOFError("输入在汇总表之前就结束了：周报任务已中止")

    xlsx.write_workbook(ledger_sheet.sheets(summary, blocks(), lights, labels), target, order=ledger_sheet.WRITE_ORDER)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the job's; it ends this process in ``close``
    target = Path(argv[1])
    try:
        with open(target, "wb") as out:
            write(sys.stdin.buffer, out)
    except Exception as exc:  # every failure becomes the job's error: said once, in its words
        target.unlink(missing_ok=True)
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
