"""The weekly job's workbook, written by a process of its own while the report is still being built.

At a province the 台账 is 180k rows: making their XML and compressing it took as long as half of the rest of the job,
all on the job's own interpreter (the compressor's thread only overlapped part of it). The job's ledger now passes its
rows on as it finds them (``tracker.report.Ledger`` given a sink), a block at a time, to ``main`` here in a process of
its own: that process makes and compresses the 台账 on another core while the job reads and derives the next items,
and writes the 汇总 once it is sent at the end. Its memory is its own (the job holds one block of rows at a time, not
the whole ledger).

The two talk through the child's standard input, in pickled frames: ``("start", PROTOCOL, lights, labels)``, then
``("block", LedgerBlock as a tuple)`` any number of times, then ``("summary", rows)``, then end of input. The child
imports only the workbook writer and the sheets (``notifications.ledger_sheet``) and starts in about a tenth of a
second, on the other core while the job loads its plans. It writes into an unnamed temporary file the job made and
passed it: nothing is left on disk whatever ends either process. Its output goes to another such file, which the job
reads for the error it reports.

The child runs in a session of its own and ignores SIGINT and SIGTERM: a Ctrl-C or a service manager's stop is the
job's to act on (the daemon finishes the running job), and the job ends the child itself when it stops (``close``);
if the job dies, the end of its input ends the child.
"""

from __future__ import annotations

import errno
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, BinaryIO

from notifications import ledger_sheet, xlsx
from notifications.errors import WorkbookError

PROTOCOL = 1  # the frames' layout: a writer started from newer code on disk than the running job's refuses its frames
_PICKLE = pickle.HIGHEST_PROTOCOL
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# ``-P``: the working folder is not searched (a stray zipfile.py or notifications/ in the daemon's folder would be
# imported instead); the package is found where the job found it (a checkout, or site-packages), looked in last
_CHILD = "import sys; sys.path.append(sys.argv.pop(1)); from notifications.workbook_process import main; sys.exit(main(sys.argv))"
_SAID_MAX = 500  # characters of the child's last line quoted in the job's error
PIPE_BYTES = 1 << 20  # a few blocks: the job goes on reading while the writer is still at an earlier block
_THE_JOBS = {signal.SIGINT, signal.SIGTERM}  # signals the job acts on, and the writer ignores
_AGAIN = "周报未生成。处理后可在今天内运行 tracker run --once 重新生成，或随时运行 tracker report weekly --send 发送本周通报。"


class WorkbookProcess:
    """The parent's side: start the writer, ``send`` it the ledger's blocks, ``complete`` it with the 汇总's rows, and
    ``wait`` for the written file; use it in a ``with`` block, which ends the writer and closes the file on any way
    out."""

    def __init__(self, lights: Mapping[str, xlsx.Styled], labels: Mapping[str, str]) -> None:
        self._file = tempfile.TemporaryFile()  # unnamed where the system allows: nothing to clean up, ever
        self._output = tempfile.TemporaryFile()
        target = self._file.fileno()
        # the writer starts with the job's signals blocked (a thread's mask is kept over fork and exec) until it
        # ignores them: a stop in its first tenth of a second must not end it either. Only this thread's mask changes
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _THE_JOBS)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-P", "-c", _CHILD, _ROOT, str(target)], stdin=subprocess.PIPE, stdout=self._output,
                stderr=self._output, pass_fds=(target,), start_new_session=True)
        except OSError as exc:
            self._file.close()
            self._output.close()
            raise WorkbookError(f"无法启动写入 Excel 台账的进程（{sys.executable}）：{exc.strerror or exc}。{_AGAIN}") from exc
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        self._input: BinaryIO = self._process.stdin  # type: ignore[assignment]
        _widen(self._input)
        # the writer's own peak memory, as it reports it once done (Linux): the job's log says it, a benchmark adds it
        # to the job's. Not ``getrusage``: a child's maxrss counts the job's pages it shared until it started Python
        self.peak_bytes: int | None = None
        try:
            self._send(("start", PROTOCOL, dict(lights), dict(labels)))
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

    def complete(self, summary: list[list[object]]) -> None:
        """Send the 汇总's rows, the last thing the writer needs: it completes the file while the caller goes on."""
        self._send(("summary", summary))
        try:
            self._input.close()
        except OSError as exc:
            raise self._failed() from exc

    def written_bytes(self) -> int:
        """How much of the file is written so far (it only grows): the caller's guess at whether it will be mailed."""
        return os.fstat(self._file.fileno()).st_size

    def wait(self) -> BinaryIO:
        """Wait for the writer to complete the file (after ``complete``); the file, positioned at its end (``close``
        closes it)."""
        if self._process.wait() != 0:
            raise self._failed()
        self.peak_bytes = _peak_said(self._output)
        self._file.seek(0, os.SEEK_END)
        return self._file  # type: ignore[return-value]

    def close(self) -> None:
        """End the writer if it is still running, and close the file: after ``wait`` the caller has read it."""
        if self._process.poll() is None:
            self._process.kill()
        try:
            self._input.close()
        except OSError:
            pass  # the writer was killed with input still buffered: nothing is to be read from it any more
        self._process.wait()
        self._output.close()
        self._file.close()

    def _send(self, frame: tuple[Any, ...]) -> None:
        try:
            pickle.dump(frame, self._input, protocol=_PICKLE)
        except OSError as exc:  # the writer stopped reading: it failed, and says why in its output
            raise self._failed() from exc

    def _failed(self) -> WorkbookError:
        code = self._process.wait()
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            reason = f"进程被信号 {name} 终止（常见原因：内存不足，或被手动结束）"
        else:  # the child's own message, or a traceback's last line, which says what failed
            reason = _last_line(self._output)[-_SAID_MAX:] or "没有输出"
        return WorkbookError(f"写入 Excel 台账的进程失败（退出码 {code}）：{reason}。{_AGAIN}")


def _widen(pipe: BinaryIO) -> None:
    """Let the pipe to the writer hold ``PIPE_BYTES`` (Linux; elsewhere, or above the system's limit, it stays at its
    size: the job then waits for the writer more often, and nothing else changes)."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[attr-defined]
    except (ImportError, AttributeError, OSError):
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
    start = next(frames, ("",))
    if start[0] != "start" or len(start) != 4 or start[1] != PROTOCOL:
        raise WorkbookError("程序已升级，正在运行的 tracker 仍是旧版本：请重启 tracker run（或运行它的服务）后再生成周报"
                            if start[0] == "start" else f"输入的第一帧应为 start，实为 {start[0]!r}")
    _, _, lights, labels = start
    summary: list[list[object]] = []  # filled when the ledger's blocks are through; the 汇总 is written after the 台账

    def blocks() -> Iterator[Sequence[Any]]:
        for kind, payload in frames:
            if kind == "summary":
                summary.extend(payload)
                return
            yield payload
        raise WorkbookError("周报任务在发来汇总表之前就中止了")

    xlsx.write_workbook(ledger_sheet.sheets(summary, blocks(), lights, labels), target, order=ledger_sheet.WRITE_ORDER)


_OS_ERRORS = {errno.ENOSPC: "磁盘已满", errno.EDQUOT: "超出磁盘配额", errno.EFBIG: "文件超过系统允许的大小",
              errno.EROFS: "文件系统只读", errno.EACCES: "没有写入权限", errno.EPERM: "没有写入权限", errno.EIO: "磁盘读写错误"}


def main(argv: list[str]) -> int:
    """The child: write the workbook into the file descriptor ``argv[1]`` from the frames on standard input; on failure
    its last line of output says why, in the words the job's error quotes."""
    for signum in _THE_JOBS:  # the job's to act on; it ends this process in ``close``
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _THE_JOBS)  # blocked since the job started this process
    try:
        with os.fdopen(int(argv[1]), "wb") as out:
            write(sys.stdin.buffer, out)
    except WorkbookError as exc:
        print(exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"写入临时文件失败：{_OS_ERRORS.get(exc.errno or 0, exc.strerror or str(exc))}（临时文件夹 "
              f"{tempfile.gettempdir()}；可用环境变量 TMPDIR 改用另一个文件夹）", file=sys.stderr)
        return 1
    except Exception as exc:  # a fault of this code: said as Python says it, the job's error quotes it
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    _say_peak()
    return 0


_PEAK = "VmHWM:"  # the label of the writer's last line of output when it is done, as /proc/self/status writes it


def _say_peak() -> None:
    """Print this process's peak resident memory line (``VmHWM:  12345 kB``) for ``WorkbookProcess.peak_bytes``;
    nothing where /proc has none."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            line = next((line.strip() for line in status if line.startswith(_PEAK)), "")
    except OSError:
        return
    if line:
        print(line, flush=True)


def _peak_said(output: BinaryIO) -> int | None:
    """The peak the writer said on its last line of output, in bytes, or None when that line is anything else."""
    last = _last_line(output).split()
    return int(last[1]) * 1024 if len(last) == 3 and last[0] == _PEAK and last[1].isdigit() and last[2] == "kB" else None


def _last_line(output: BinaryIO) -> str:
    """The writer's last line of output (its message when it failed, its peak when done), read from the file's end:
    a traceback before it can be long."""
    output.seek(max(0, output.seek(0, os.SEEK_END) - 4 * _SAID_MAX))  # a line of _SAID_MAX characters, in UTF-8
    return output.read().decode("utf-8", "replace").strip().rsplit("\n", 1)[-1]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
