"""The preloaded command server that `tracker` (tracker/cli/launch.py) hands read commands to.

Started by the launcher as ``python -P -m tracker.cli.preload SOCKET KEY`` in its own session. It imports the
heavy modules once (typer, SQLAlchemy, SQLModel, pydantic, the table and configuration models, the read
commands), opens no database connection and starts no thread, then for each command forks a child that takes on
the caller's standard streams, working folder, environment, umask and command line and runs
``tracker.cli.app.main`` exactly as the caller would have, from the top level of this module so that the
interpreter's own exit (flushing, atexit, the exit code) is the same. The server waits for the child and sends
its exit code back; if the caller goes away the child is killed; the caller's SIGINT and SIGTERM are passed on.

It exits after ``TRACKER_PRELOAD_IDLE`` seconds (default 600) without a command, and as soon as the files of the
installed code change (then it finishes the commands under way first). Nothing here is a business rule.
"""

from __future__ import annotations

import fcntl
import gc
import importlib
import io
import json
import math
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field

from tracker.cli import launch

# What the read commands use, imported before the first command: the libraries and the tracker's modules, but not the
# command modules themselves, which the child imports as the in-process path does (importing one registers its
# commands, and the root builds every registered command's parameters on each run). Not rich nor typer's rich help:
# they read the terminal's settings from the environment when they are imported.
PRELOAD = ("typer", "typer.main", "sqlalchemy", "sqlalchemy.orm", "sqlmodel", "sqlite3", "pydantic", "tomllib",
           "zoneinfo", "chinese_calendar", "dateutil.relativedelta",
           "tracker.cli.app", "tracker.cli.chinese", "tracker.cli.context", "tracker.cli.options", "tracker.cli.output",
           "tracker.config", "tracker.db", "tracker.models", "tracker.queries", "tracker.status", "tracker.reminders",
           "tracker.directory", "tracker.ledger", "tracker.calendar", "tracker.deadlines", "tracker.occurrences",
           "tracker.plans", "tracker.names", "tracker.text", "tracker.times", "tracker.bulk", "tracker.catalogues",
           "tracker.catalogue_check", "tracker.catalogue_read", "tracker.channels", "tracker.cycle", "tracker.disclosures",
           "tracker.outbox", "tracker.outfiles", "tracker.tablefile", "notifications.render", "notifications.mime")
MUST_NOT_PRELOAD = ("rich", "typer.rich_utils")
# The signals a caller passes on. A child is forked with them blocked and unblocks them just before the command runs:
# one that comes while the child is still taking on the caller's streams and environment then acts as it would at the
# command's first line (exit 130, or killed by SIGTERM), not as a traceback from this module on the user's screen.
PASSED_ON = {signal.SIGINT, signal.SIGTERM}
# What the caller passes on, and what its command gets. Ctrl-Z (SIGTSTP) stops the command with SIGSTOP: the child is
# in this server's process group, which no terminal controls, and the kernel drops SIGTSTP sent to such a group.
PASSED_TO_CHILD = {signal.SIGINT: signal.SIGINT, signal.SIGTERM: signal.SIGTERM, signal.SIGTSTP: signal.SIGSTOP,
                   signal.SIGCONT: signal.SIGCONT}
CHECK_EVERY = 2.0  # seconds between looks at the installed code's files
LOG_KEPT = 86400.0  # seconds an ended server's log is kept (why it left, what it ran) after a server of another key starts
LOG_LIMIT = 1 << 20


@dataclass
class Request:
    """One command handed over: the caller's descriptors (stdin, stdout, stderr, working folder) and its state."""

    fds: list[int]
    argv: list[str]
    env: dict[str, str]
    umask: int
    stdio: list[list[object]]
    ignored: list[int]


@dataclass
class Running:
    pid: int
    conn: socket.socket
    pidfd: int
    command: str


@dataclass
class Server:
    path: str
    key: str
    search_path: list[str]
    idle: float
    log_path: str
    listener: socket.socket | None = None
    lock_fd: int = -1
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    running: dict[int, Running] = field(default_factory=dict)  # by pidfd
    served: int = 0
    draining: bool = False
    pid: int = field(default_factory=os.getpid)

    def log(self, line: str) -> None:
        """Never fails: a command line with undecodable bytes is written with backslash escapes."""
        try:
            if os.path.exists(self.log_path) and os.path.getsize(self.log_path) > LOG_LIMIT:
                os.truncate(self.log_path, 0)
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            with open(fd, "a", encoding="utf-8", errors="backslashreplace") as out:
                out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {line}\n")
        except Exception:  # noqa: BLE001 - the log must never take the server (and its running commands) down
            pass

    def current(self) -> bool:
        """Whether the installed code is still what this process imported."""
        return launch.key_of(launch.identity(self.search_path)) == self.key

    def lock(self) -> bool:
        """One server per key: the lock is held for the server's whole life."""
        if not launch.private_dir(os.path.dirname(self.path), create=True):
            return False
        self.lock_fd = os.open(self.path[: -len(".sock")] + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # another server of this key is starting or running
        self.remove_stale()
        return True

    def remove_stale(self) -> None:
        """The files of other keys (older code, other settings) whose server is not running: nobody will use them."""
        folder = os.path.dirname(self.path)
        own = os.path.basename(self.path)[: -len(".sock")]
        try:
            names = os.listdir(folder)
        except OSError:
            return
        for name in names:
            stem, dot, suffix = name.rpartition(".")
            if not dot or suffix != "lock" or stem == own:
                continue
            try:
                fd = os.open(os.path.join(folder, name), os.O_RDWR | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: that server is running; leave it be
                leftovers = [f"{stem}.sock", name]
                if _older_than(os.path.join(folder, f"{stem}.log"), LOG_KEPT):  # what an operator may still want to read
                    leftovers.append(f"{stem}.log")
                for leftover in leftovers:
                    try:
                        os.unlink(os.path.join(folder, leftover))
                    except OSError:
                        pass
            except OSError:
                pass
            finally:
                os.close(fd)

    def listen(self) -> None:
        """Only once everything is imported: a caller either finds a server ready to fork, or none at all."""
        try:
            os.unlink(self.path)  # left by a server that died: with the lock held, nobody else is behind it
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(self.path)
        finally:
            os.umask(old)
        listener.listen(64)
        listener.setblocking(False)
        self.listener = listener
        self.selector.register(listener, selectors.EVENT_READ, None)

    def stop_listening(self) -> None:
        if self.listener is None:
            return
        self.selector.unregister(self.listener)
        try:
            os.unlink(self.path)  # ours: the lock says no other server of this key is running
        except OSError:
            pass
        self.listener.close()
        self.listener = None

    def serve(self) -> Request | None:
        """Answer commands until idle or outdated; returns (in a forked child only) the request to run."""
        last = time.monotonic()
        next_check = last + CHECK_EVERY
        while True:
            now = time.monotonic()
            if not self.running and (self.draining or now - last >= self.idle):
                self.log(f"退出（{'代码已更新' if self.draining else '空闲'}），共执行 {self.served} 条命令")
                self.stop_listening()
                return None
            timeout = min(next_check, last + self.idle) - now if not self.draining else 1.0
            for key, _events in self.selector.select(max(0.0, timeout)):
                if key.fileobj is self.listener:
                    try:
                        request = self.accept()
                    except Exception as error:  # noqa: BLE001 - one request must never take the others down
                        if os.getpid() != self.pid:
                            raise
                        self.log(f"一个请求出错（不影响其他命令）：{error!r}")
                        continue
                    if request is not None:
                        return request
                elif isinstance(key.data, tuple) and key.data[0] == "exit":
                    self.finished(key.data[1])
                    last = time.monotonic()
                elif isinstance(key.data, tuple) and key.data[0] == "client":
                    self.from_client(key.data[1])
            if time.monotonic() >= next_check and not self.draining:
                next_check = time.monotonic() + CHECK_EVERY
                if not self.current():
                    self.draining = True
                    self.stop_listening()

    def accept(self) -> Request | None:
        assert self.listener is not None
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return None
        fds: list[int] = []
        try:
            conn.settimeout(1.0)  # a client that does not go on at once is not waited for (the launcher waits 2 s)
            _pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                 struct.calcsize("3i")))
            if uid != os.getuid() or gid != os.getgid():
                raise ConnectionError("another user or group")
            header, fds, _flags, _addr = socket.recv_fds(conn, launch.HEADER.size, 4)
            if len(header) != launch.HEADER.size or len(fds) != 4:
                raise ConnectionError("incomplete request")
            size = launch.HEADER.unpack(header)[0]
            body = bytearray()
            while len(body) < size:
                chunk = conn.recv(min(size - len(body), 1 << 16))
                if not chunk:
                    raise ConnectionError("incomplete request")
                body += chunk
            message = json.loads(body)
            argv = [str(word) for word in message["argv"]]
            if message["key"] != self.key or self.draining or not launch.read_command(argv[1:]):
                conn.sendall(launch.DECLINED)
                raise ConnectionError("declined")
            request = Request(fds, argv, {str(k): str(v) for k, v in message["env"].items()}, int(message["umask"]),
                              list(message["stdio"]), [int(signum) for signum in message.get("ignored", [])])
            conn.sendall(launch.ACCEPTED)
            if conn.recv(1) != launch.GO:  # the caller gave up waiting and runs the command itself
                raise ConnectionError("caller gave up")
        except (OSError, ValueError, KeyError, TypeError, ConnectionError):
            for fd in fds:
                os.close(fd)
            conn.close()
            return None
        command = " ".join(launch.command_words(request.argv[1:])[:2])
        signal.pthread_sigmask(signal.SIG_BLOCK, PASSED_ON)  # the child holds them until its command runs
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, PASSED_ON)
            for fd in fds:
                os.close(fd)
            conn.close()
            return None
        if pid == 0:
            self.become_child(conn, request.ignored)
            return request
        signal.pthread_sigmask(signal.SIG_UNBLOCK, PASSED_ON)
        for fd in fds:
            os.close(fd)
        self.served += 1
        pidfd = os.pidfd_open(pid)
        running = Running(pid, conn, pidfd, command)
        self.running[pidfd] = running
        self.selector.register(pidfd, selectors.EVENT_READ, ("exit", pidfd))
        self.log(f"第 {self.served} 条命令，进程号 {pid}：{command}")
        conn.setblocking(False)
        self.selector.register(conn, selectors.EVENT_READ, ("client", pidfd))
        return None

    def become_child(self, own: socket.socket, ignored: list[int]) -> None:
        """In the forked child: the signals as the caller's interpreter has them (what it ignores stays ignored), and
        let go of everything of the server's."""
        for signum in signal.valid_signals():
            if signum in (signal.SIGKILL, signal.SIGSTOP):
                continue
            if signum in ignored or signum in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores these two itself
                handler = signal.SIG_IGN
            elif signum == signal.SIGINT:
                handler = _interrupt
            else:
                handler = signal.SIG_DFL
            try:
                signal.signal(signum, handler)
            except (OSError, ValueError):  # the C library's own real-time signals
                pass
        self.selector.close()
        if self.listener is not None:
            self.listener.close()
        for running in self.running.values():
            running.conn.close()
            os.close(running.pidfd)
        os.close(self.lock_fd)
        own.close()

    def from_client(self, pidfd: int) -> None:
        running = self.running.get(pidfd)
        if running is None:  # finished in the same round
            return
        try:
            data = running.conn.recv(launch.CODE.size)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if len(data) == launch.CODE.size and launch.CODE.unpack(data)[0] in PASSED_TO_CHILD:
            try:
                os.kill(running.pid, PASSED_TO_CHILD[launch.CODE.unpack(data)[0]])
            except ProcessLookupError:
                pass
            return
        if not data:  # the caller is gone (killed): nobody reads the answer any more
            self.kill(running)

    def kill(self, running: Running) -> None:
        self.log(f"进程号 {running.pid} 的调用方已退出，命令已终止")
        try:
            os.kill(running.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.unwatch(running.conn)

    def unwatch(self, conn: socket.socket) -> None:
        """Stop watching a caller's connection, which may already be unwatched (killed, then finished)."""
        try:
            self.selector.unregister(conn)
        except (KeyError, ValueError):
            pass

    def finished(self, pidfd: int) -> None:
        running = self.running.pop(pidfd)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _pid, status = os.waitpid(running.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        try:
            running.conn.setblocking(True)
            running.conn.settimeout(1.0)
            running.conn.sendall(launch.CODE.pack(code))
        except OSError:
            pass
        self.unwatch(running.conn)
        running.conn.close()


def _older_than(path: str, seconds: float) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime > seconds
    except OSError:
        return False


def _die_with_parent() -> None:
    """The child ends if the server is killed: its caller then says so instead of waiting for ever."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _stream(fd: int, name: str, settings: list[object], write: bool) -> io.TextIOWrapper:
    """A standard stream made the way the interpreter makes it at start-up (closefd=False, newline "\\n")."""
    encoding, errors, line_buffering, write_through = settings
    unbuffered = write and bool(write_through)  # python -u / PYTHONUNBUFFERED: no buffer under the text layer
    buffer = io.open(fd, "wb" if write else "rb", buffering=0 if unbuffered else -1, closefd=False)
    (buffer if unbuffered else buffer.raw).name = name  # type: ignore[union-attr]
    stream = io.TextIOWrapper(buffer, encoding=str(encoding), errors=str(errors), newline="\n",
                              line_buffering=bool(line_buffering), write_through=bool(write_through))
    stream.mode = "w" if write else "r"  # type: ignore[misc]
    return stream


def adopt(request: Request, server_pid: int) -> None:
    """Become the caller: its streams on 0/1/2, its folder, environment, umask, command line and time zone."""
    _die_with_parent()
    if os.getppid() != server_pid:
        os._exit(1)
    stdin, stdout, stderr, cwd = request.fds
    for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        os.dup2(fd, target)
    for fd in (stdin, stdout, stderr):
        if fd > 2:
            os.close(fd)
    os.fchdir(cwd)
    os.close(cwd)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # nothing but the caller's three streams
    os.umask(request.umask)
    os.environ.clear()
    os.environ.update(request.env)
    time.tzset()
    sys.argv = request.argv
    sys.stdin = sys.__stdin__ = _stream(0, "<stdin>", request.stdio[0], write=False)
    sys.stdout = sys.__stdout__ = _stream(1, "<stdout>", request.stdio[1], write=True)
    sys.stderr = sys.__stderr__ = _stream(2, "<stderr>", request.stdio[2], write=True)


def _preload() -> bool:
    """Import what the read commands use and do the work every command would repeat that depends on nothing of the
    caller's: configuring the table mappings, reading the migration chain (no database, no terminal, no thread)."""
    for name in PRELOAD:
        importlib.import_module(name)
    import sqlalchemy.orm

    from tracker.db import known_revisions

    sqlalchemy.orm.configure_mappers()
    known_revisions()  # read from the migration files, which the code's fingerprint covers
    gc.collect()
    gc.freeze()  # the collector leaves what is loaded alone: a child does not copy the server's pages by touching them
    if threading.active_count() != 1:  # a thread would not survive the fork; refuse rather than fork half a process
        return False
    return not any(name == m or name.startswith(m + ".") for name in sys.modules for m in MUST_NOT_PRELOAD)


def start(path: str, key: str) -> Request | None:
    """Run the server; returns only in a forked child, with the command to run there."""
    search_path = json.loads(os.environ.pop("TRACKER_PRELOAD_PATH", "null") or "null")
    if search_path != sys.path:  # the caller's modules could not be found the same way here
        return None
    try:
        idle = float(os.environ.get(launch.IDLE_ENV, launch.DEFAULT_IDLE))
    except ValueError:
        idle = launch.DEFAULT_IDLE
    if not math.isfinite(idle) or idle <= 0:  # 0 would start and leave on every call, inf or nan never leave
        idle = launch.DEFAULT_IDLE
    server = Server(path, key, search_path, idle, path[: -len(".sock")] + ".log")
    os.chdir("/")
    if not server.current() or not server.lock():
        return None
    server.log(f"启动，进程号 {os.getpid()}")
    if not _preload() or not server.current():  # the code changed while it was being imported
        server.log("退出（载入期间代码已更新，或载入了不应预加载的模块）")
        return None
    server_pid = os.getpid()

    def leave(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, leave)  # `kill PID` removes the socket too (a child puts SIG_DFL back)
    try:
        server.listen()
        request = server.serve()
    finally:
        if os.getpid() == server_pid:
            server.stop_listening()
    if request is not None:
        adopt(request, server_pid)
    return request


_finished = False  # in a child: the command has returned and its output is written


def _interrupt(_signum: int, _frame: object) -> None:
    """SIGINT in a child: Ctrl-C as in-process (KeyboardInterrupt, which typer makes exit 130) while the command runs.

    The caller passes Ctrl-C on a moment after the user pressed it, so it can come after the command's last line
    was written, while the interpreter cleans up, where a KeyboardInterrupt prints "Exception ignored … KeyboardInterrupt"
    on the user's screen. Then it changes nothing here: the caller ends 130 all the same (launch.after_signal)."""
    if not _finished:
        raise KeyboardInterrupt


def _flush_standard_streams() -> None:
    """Write what is buffered while Ctrl-C can still stop a write that blocks (a reader that went quiet); a broken
    pipe is left for the interpreter's own flush at exit to report, exactly as in-process."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def run_command() -> None:
    """Run the caller's command in this child, from the top level as the interpreter would."""
    global _finished
    from tracker.cli.app import main

    try:
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, PASSED_ON)
            main()
        finally:
            _flush_standard_streams()
            _finished = True
    except KeyboardInterrupt:  # after typer's own handler, which would have made it 130, and before the exit
        sys.exit(130)


if __name__ == "__main__":
    if len(sys.argv) == 3 and start(sys.argv[1], sys.argv[2]) is not None:
        run_command()
    else:
        sys.exit(0)
