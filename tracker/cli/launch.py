"""The `tracker` console script: hands a read command to a preloaded process, or runs it here as always.

A read command spends most of its time importing typer, SQLAlchemy, SQLModel and pydantic (about 0.6 s on a
small machine against 0.04 s for the interpreter itself), not answering. So, like Gradle's daemon or dmypy,
a background process (``tracker.cli.preload``) keeps those modules imported and forks one child per command;
this launcher, which imports only the standard library, passes it the command line, the working directory,
the whole environment, the umask and its own stdin/stdout/stderr, and exits with the child's exit code. The
child runs exactly what ``tracker.cli.app.main`` runs here, writing straight to this process's terminal or pipe.

Only commands that read are handed over (``READ_COMMANDS``): nothing that writes the database, sends, serves
or runs the daemon. Anything else, and any doubt (no server, a server of another user, a socket in a folder
others can enter, faketime/LD_PRELOAD, ``TRACKER_PRELOAD=0``), runs in this process as before. When no server
answered a read command, one is started in the background for the next command. The socket's name is a
hash of everything that decides which code would run (Python, the module search path, where the packages are,
the modification times of their files, the environment read at start-up), so an upgrade or an edit is never
answered by a process holding the old code: it simply is not found, and the old one exits on its own.
"""

from __future__ import annotations

import os
import signal
import stat
import struct
import sys

# (command, sub-command or None, a flag the command line must carry or None): commands that only read.
READ_COMMANDS: tuple[tuple[str, str | None, str | None], ...] = (
    ("items", "list", None),
    ("show", None, None),
    ("history", None, None),
    ("plans", "list", None),
    ("plans", "show", None),
    ("remind", None, "--dry-run"),
)
GLOBAL_OPTIONS = ("--config",)  # the root's options that take a value (tracker/cli/chinese.py hoists them)
ENABLE_ENV = "TRACKER_PRELOAD"
IDLE_ENV = "TRACKER_PRELOAD_IDLE"  # seconds without a command before the server exits
DIR_ENV = "TRACKER_PRELOAD_DIR"  # where the socket lives (default: $XDG_RUNTIME_DIR/tracker or <tmp>/tracker-<uid>)
DEFAULT_IDLE = 600.0
# Read by Python or a preloaded library when it starts, not when a command runs: a different value needs its own server.
_STARTUP_ENV_PREFIXES = ("PYTHON", "LC_ALL", "LC_CTYPE", "LANG", "TZ", "TYPER_", "_TYPER", "LD_LIBRARY_PATH")
# The packages the server imports ahead of time; their folders' modification times change when pip changes them.
PRELOADED_LIBRARIES = ("sqlalchemy", "sqlmodel", "typer", "pydantic", "pydantic_core", "dateutil", "chinese_calendar")
OUR_PACKAGES = ("tracker", "schedules", "notifications")
# The interpreter's switches that change how code runs (not safe_path: the server runs with -P and gets the path it needs).
_FLAGS = ("debug", "inspect", "interactive", "optimize", "dont_write_bytecode", "no_user_site", "no_site",
          "ignore_environment", "verbose", "bytes_warning", "quiet", "hash_randomization", "isolated", "dev_mode",
          "utf8_mode", "warn_default_encoding", "int_max_str_digits")

HEADER = struct.Struct("!I")  # length of the request that follows the header (and the four descriptors)
CODE = struct.Struct("!i")  # server → client: the exit code, or minus the signal that ended the command
ACCEPTED = b"A"  # server → client: it will run the command if the client still wants it
DECLINED = b"D"
GO = b"G"  # client → server: it waits for the answer now (before this, a client that gave up runs the command itself)


def command_words(args: list[str]) -> list[str]:
    """The command line without the global options (which may stand before or after the command)."""
    rest: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        if token in GLOBAL_OPTIONS:
            index += 2
            continue
        if not any(token.startswith(option + "=") for option in GLOBAL_OPTIONS):
            rest.append(token)
        index += 1
    return rest


def read_command(args: list[str]) -> bool:
    """Whether the command line names a command that only reads."""
    rest = command_words(args)
    if not rest:
        return False
    for command, sub, flag in READ_COMMANDS:
        if rest[0] != command or (sub is not None and rest[1:2] != [sub]):
            continue
        return flag is None or flag in rest[1:]
    return False


def enabled(environ: os._Environ[str] | dict[str, str]) -> bool:
    """Off when asked, and under libfaketime or any LD_PRELOAD: a forked child cannot take on the caller's library."""
    if environ.get(ENABLE_ENV, "1").strip().lower() in ("0", "no", "off", "false"):
        return False
    return not (environ.get("LD_PRELOAD") or environ.get("FAKETIME") or environ.get("DYLD_INSERT_LIBRARIES"))


def socket_dir() -> str:
    """The private folder for this user's sockets."""
    explicit = os.environ.get(DIR_ENV)
    if explicit:
        return os.path.abspath(explicit)  # relative to the caller's folder, not the server's
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "tracker")
    import tempfile

    return os.path.join(tempfile.gettempdir(), f"tracker-{os.getuid()}")


def private_dir(path: str, create: bool) -> bool:
    """The folder exists (made if asked), is a real folder of this user and nobody else can enter it."""
    if create:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError:
            return False
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077 == 0


def module_path() -> list[str] | None:
    """The module search path the server must use to import what this process would import, or None when it cannot
    (started as ``python -c``/``-m`` with the working folder first, or a relative entry)."""
    if sys.flags.safe_path:
        path = list(sys.path)
    else:
        first = sys.path[0] if sys.path else ""
        # Python puts the script's real folder first (symbolic links resolved)
        script = os.path.dirname(os.path.realpath(sys.argv[0])) if sys.argv and sys.argv[0] else ""
        if not first or os.path.realpath(first) != script or first == os.getcwd():
            return None
        path = sys.path[1:]
    # a relative entry would mean another folder to a server that runs in "/"; names that are no file are path-hook
    # markers (setuptools' editable install adds one), the same for everybody
    if any(not entry or not os.path.isabs(entry) and os.path.exists(entry) for entry in path):
        return None
    return path


def _package_dirs() -> tuple[list[str], list[str]]:
    """Where our packages and the preloaded libraries are, found without importing them."""
    from importlib.util import find_spec

    ours = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]  # the tracker package
    libraries: list[str] = []
    for name in (*OUR_PACKAGES[1:], *PRELOADED_LIBRARIES):
        found = ours if name in OUR_PACKAGES else libraries
        try:
            spec = find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            found.append(f"<missing {name}>")
            continue
        locations = list(spec.submodule_search_locations or []) or [os.path.dirname(spec.origin or "")]
        found.extend(os.path.abspath(location) for location in locations)
    return ours, libraries


def _tree_times(folder: str, into: list[str]) -> None:
    """Modification time and size of every file under ``folder`` (bytecode caches aside), in a fixed order."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        into.append(f"{folder}:?")
        return
    for entry in entries:
        if entry.name == "__pycache__":
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                _tree_times(entry.path, into)
            else:
                info = entry.stat()
                into.append(f"{entry.path}:{info.st_mtime_ns}:{info.st_size}")
        except OSError:
            into.append(f"{entry.path}:?")


def fingerprint(ours: list[str], libraries: list[str]) -> str:
    """A cheap summary of the installed code: every file of our packages, and the folders holding the libraries
    (pip adds and removes metadata folders there when it installs or upgrades anything)."""
    import hashlib

    parts: list[str] = []
    for folder in ours:
        _tree_times(folder, parts)
    for folder in sorted({os.path.dirname(p) for p in libraries} | set(libraries)):
        try:
            parts.append(f"{folder}:{os.stat(folder).st_mtime_ns}")
        except OSError:
            parts.append(f"{folder}:?")
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def startup_environment(environ: os._Environ[str] | dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(environ.items()) if k.startswith(_STARTUP_ENV_PREFIXES)}


def _process_state() -> dict[str, object]:
    """What a forked child takes from the server rather than from its caller: the groups, the priority, the resource
    limits, the control group and the namespaces. A caller that differs needs a server started like itself."""
    import resource

    limits = {name: resource.getrlimit(getattr(resource, name)) for name in dir(resource) if name.startswith("RLIMIT_")}
    namespaces: dict[str, str] = {}
    try:
        for name in sorted(os.listdir("/proc/self/ns")):
            namespaces[name] = os.readlink(f"/proc/self/ns/{name}")
        with open("/proc/self/cgroup", encoding="utf-8", errors="replace") as cgroup:
            control_group = cgroup.read()
    except OSError:
        control_group = "?"
    return {"gid": os.getgid(), "groups": sorted(os.getgroups()), "nice": os.getpriority(os.PRIO_PROCESS, 0),
            "limits": limits, "namespaces": namespaces, "cgroup": control_group}


def identity(path: list[str]) -> dict[str, object]:
    """Everything that decides which code a command would run and how the interpreter and the process were set up."""
    import locale

    ours, libraries = _package_dirs()
    flags = {name: getattr(sys.flags, name) for name in _FLAGS if hasattr(sys.flags, name)}
    return {
        "uid": os.getuid(), "python": sys.executable, "version": sys.version, "path": path, "packages": [ours, libraries],
        "code": fingerprint(ours, libraries), "flags": flags, "encoding": locale.getpreferredencoding(False),
        "filesystem": [sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()],
        "environment": startup_environment(os.environ), "process": _process_state(),
        "interpreter": _stat_of(sys.executable),
    }


def _stat_of(path: str) -> str:
    try:
        info = os.stat(path)
    except OSError:
        return "?"
    return f"{info.st_mtime_ns}:{info.st_size}"


def key_of(ident: dict[str, object]) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(ident, sort_keys=True, ensure_ascii=True).encode()).hexdigest()[:24]


def _stdio() -> list[list[object]] | None:
    """How this interpreter set up its three standard streams, so the child's are the same."""
    described = []
    for stream, fd in ((sys.stdin, 0), (sys.stdout, 1), (sys.stderr, 2)):
        if stream is None or getattr(stream, "fileno", None) is None:
            return None
        try:
            if stream.fileno() != fd:
                return None
            os.fstat(fd)
        except (OSError, ValueError, AttributeError):
            return None
        described.append([stream.encoding, stream.errors, stream.line_buffering, stream.write_through])
    return described


def ignored_signals() -> list[int]:
    """The signals this process ignores (inherited, like `trap '' INT` or a background job's SIGINT): the child ignores
    them too."""
    ignored = []
    for signum in signal.valid_signals():
        try:
            if signal.getsignal(signum) == signal.SIG_IGN and signum not in (signal.SIGPIPE, signal.SIGXFSZ):
                ignored.append(int(signum))
        except (OSError, ValueError):
            continue
    return ignored


def end_like(code: int) -> None:
    """End as the command ended: killed by the same signal (minus the signal), or with its exit code."""
    if code < 0:
        signum = -code
        try:
            signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):  # SIGKILL, SIGSTOP: their disposition cannot be set, nor needs to be
            pass
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
            os.kill(os.getpid(), signum)
        except (OSError, ValueError):
            pass
        sys.exit(128 + signum)  # a signal whose default is not to end a process: the shell's way of saying it
    sys.exit(code)


def after_signal(code: int, received: list[int]) -> int:
    """How a command the caller passed a SIGTERM or SIGINT on ends, as it would have in-process.

    In-process the signal reaches the command at once: SIGTERM's default kills it, and typer makes Ctrl-C's
    KeyboardInterrupt exit 130. Passed on through the server it arrives a moment later, and by then a command
    whose output was just being read may have finished (0), or be in the interpreter's clean-up, where a SIGINT
    kills it (-2). The user stopped a command that, as far as they could see, was still running: it ends the same
    way every time. A command that failed on its own (another code) keeps its code."""
    if signal.SIGTERM in received:
        return -signal.SIGTERM
    if signal.SIGINT in received and code in (0, 130, -signal.SIGINT):
        return 130
    return code


def _forward(path: str, key: str, stdio: list[list[object]]) -> int | None:
    """Hand the command to the server at ``path``; its exit code (minus a signal), or None when it did not take it."""
    import json
    import socket

    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError:
        return None
    cwd = -1
    ignored = ignored_signals()
    passed_on = [signum for signum in (signal.SIGINT, signal.SIGTERM) if signum not in ignored]
    held = passed_on + ([signal.SIGTSTP] if signal.SIGTSTP not in ignored else [])
    blocked = False
    try:
        sock.settimeout(2.0)
        sock.connect(path)
        _pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                struct.calcsize("3i")))
        if uid != os.getuid() or gid != os.getgid():
            sock.close()
            return None
        umask = os.umask(0o077)
        os.umask(umask)
        cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        # ensure_ascii keeps undecodable bytes (surrogate escapes) as \udcXX, which json.loads gives back unchanged
        body = json.dumps({"key": key, "argv": sys.argv, "env": dict(os.environ), "umask": umask, "stdio": stdio,
                           "ignored": ignored}, ensure_ascii=True).encode("ascii")
        socket.send_fds(sock, [HEADER.pack(len(body))], [0, 1, 2, cwd])
        sock.sendall(body)
        answer = sock.recv(1)
        if answer != ACCEPTED:
            sock.close()
            return None
        # From GO on the command is the server's: a Ctrl-C must be passed on, so it waits (blocked) until the handler
        # that passes it on is in place, rather than raise KeyboardInterrupt here in between.
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
        blocked = True
        sock.sendall(GO)
    except OSError:
        if blocked:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
        sock.close()
        return None
    finally:
        if cwd >= 0:
            os.close(cwd)
    # From here on the command is running in the server's child: wait for it, whatever happens.
    sock.settimeout(None)

    received: list[int] = []

    def pass_on(signum: int) -> None:
        try:
            sock.sendall(CODE.pack(signum))
        except OSError:
            pass

    def forward_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        pass_on(signum)

    def stop_and_continue(_signum: int, _frame: object) -> None:
        """Ctrl-Z: the command stops (the server stops it), then this process stops as the command would have, so
        the shell sees the job stopped; `fg` or `bg` continues this process, which then lets the command go on."""
        pass_on(signal.SIGTSTP)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # stopped here until continued
        signal.signal(signal.SIGTSTP, stop_and_continue)
        pass_on(signal.SIGCONT)

    for signum in passed_on:  # an ignored signal stays ignored, as it would in-process
        signal.signal(signum, forward_signal)
    if signal.SIGTSTP not in ignored:
        signal.signal(signal.SIGTSTP, stop_and_continue)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, held)  # one that came since GO is passed on now
    data = b""
    while len(data) < CODE.size:
        try:
            chunk = sock.recv(CODE.size - len(data))
        except OSError:
            chunk = b""
        if not chunk:
            os.write(2, "错误：后台预加载进程意外退出，命令可能没有执行完。请重新运行；如仍出错，设置 TRACKER_PRELOAD=0 后再试。\n"
                        .encode(sys.stderr.encoding or "utf-8", "replace"))
            sock.close()
            return 1
        data += chunk
    sock.close()
    return after_signal(CODE.unpack(data)[0], received)


def _server_running(path: str) -> bool:
    """Whether a server of this key holds its lock (starting or serving): then no second one is started."""
    import fcntl

    try:
        fd = os.open(path[: -len(".sock")] + ".lock", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _start_server(path: str, key: str, module_search_path: list[str]) -> None:
    """Start the server in the background, detached: its own session, no terminal, and no descriptor of the caller's
    but /dev/null on 0, 1 and 2 (a lock or a pipe end the caller inherited must not stay open in it)."""
    import json
    import subprocess

    if _server_running(path):
        return
    env = dict(os.environ)
    env["TRACKER_PRELOAD_PATH"] = json.dumps(module_search_path)
    try:
        server = subprocess.Popen([sys.executable, "-P", "-m", "tracker.cli.preload", path, key], env=env, cwd="/",
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  close_fds=True, start_new_session=True)
    except OSError:
        return
    server.returncode = 0  # it outlives this process on purpose: no "still running" warning (python -X dev) at exit


def main() -> None:
    args = sys.argv[1:]
    plan = None
    if read_command(args) and enabled(os.environ) and sys.platform.startswith("linux"):
        folder, search_path, stdio = socket_dir(), module_path(), _stdio()
        if search_path is not None and stdio is not None and private_dir(folder, create=True):
            key = key_of(identity(search_path))
            path = os.path.join(folder, f"{key}.sock")
            code = _forward(path, key, stdio)
            if code is not None:
                end_like(code)
            plan = (path, key, search_path)
    try:
        from tracker.cli.app import main as run_here

        run_here()
    finally:
        if plan is not None:
            _start_server(*plan)
