"""The preloaded command server (tracker/cli/launch.py and tracker/cli/preload.py), with real processes.

A read command handed to the server must answer exactly as the same command run in-process: the same bytes on
stdout and stderr, the same exit code, on a pipe and on a terminal; it must run with the caller's streams, folder and
environment; a command that writes is never handed over; edited code is never answered by a server holding the old
code; a killed caller takes its command with it; the server leaves when idle; a socket that is not this user's own
server is ignored. conftest.py turns preloading off for the rest of the suite; each test here turns it on with its
own socket folder and stops its servers at the end. No times are asserted (they are in BENCHMARKS.md).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, wait_for

TRACKER = str(Path(sys.executable).with_name("tracker"))
TODAY = "2020-10-09"
THIRD_PARTY_OK = {"__editable___county_tracker_0_1_0_finder", "_distutils_hack"}  # put there by site, before us

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the server passes descriptors (Linux)"),
              pytest.mark.skipif(bool(os.environ.get("LD_PRELOAD") or os.environ.get("FAKETIME")),
                                 reason="preloading is off under faketime (tested below with the variables set)")]


class Home:
    """A seeded SQLite database, a config beside it and a private socket folder for this test's servers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.run_dir = root / "run"
        self.config = root / "config.toml"
        self.config.write_text(f'[database]\nurl = "sqlite:///{root / "tracker.db"}"\n', "utf-8")
        self.env = {**os.environ, "TRACKER_PRELOAD": "1", "TRACKER_PRELOAD_DIR": str(self.run_dir),
                    "TRACKER_PRELOAD_IDLE": "3600"}
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        done = self.run("init", "--start", "2020-08-01", preload=False)
        assert done.returncode == 0, done.stderr

    def environment(self, preload: bool, **extra: str) -> dict[str, str]:
        return {**self.env, "TRACKER_PRELOAD": "1" if preload else "0", **extra}

    def run(self, *args: str, preload: bool = True, env: dict[str, str] | None = None, **kw):
        return subprocess.run([TRACKER, "--config", str(self.config), *args], cwd=self.root, capture_output=True,
                              timeout=120, env=env or self.environment(preload), **kw)

    def logs(self) -> str:
        return "".join(p.read_text("utf-8") for p in sorted(self.run_dir.glob("*.log"))) if self.run_dir.exists() else ""

    def served(self) -> int:
        return len(re.findall(r" 第 \d+ 条命令，进程号 \d+：", self.logs()))

    def server_pids(self) -> list[int]:
        return [int(p) for p in re.findall(r" 启动，进程号 (\d+)", self.logs())]

    def live_servers(self) -> list[int]:
        return [pid for pid in self.server_pids() if _alive(pid)]

    def wait_for_server(self) -> None:
        """Until a server answers on a socket of this folder (it imports for a second or two after being started)."""
        def ready() -> bool:
            for path in self.run_dir.glob("*.sock") if self.run_dir.exists() else []:
                with socket.socket(socket.AF_UNIX) as probe:
                    try:
                        probe.connect(str(path))
                        return True
                    except OSError:
                        continue
            return False
        assert wait_for(ready, 60), self.logs()

    def warm(self) -> None:
        """A read command in-process starts the server; wait until it answers."""
        assert self.run("items", "list", "--json", "--today", TODAY).returncode == 0
        self.wait_for_server()

    def ensure(self) -> None:
        """A server is running (the module's shared one may have been stopped by nothing, but be sure)."""
        if not self.live_servers():
            self.warm()
        self.wait_for_server()

    def stop(self) -> None:
        for pid in self.live_servers():
            os.kill(pid, signal.SIGTERM)
            os.kill(pid, signal.SIGCONT)  # a server a test stopped (and did not get to continue) acts on it too
        assert wait_for(lambda: not self.live_servers(), 20)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def home(tmp_path):
    made = Home(tmp_path)
    yield made
    made.stop()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One server for the comparisons (starting one takes a second or two)."""
    made = Home(tmp_path_factory.mktemp("preload"))
    made.warm()
    yield made
    made.stop()


READ_CASES = [
    ("items", "list", "--json", "--today", TODAY),
    ("items", "list", "--today", TODAY),
    ("items", "list", "--overdue", "--today", "2021-03-15"),
    ("show", "1", "--today", TODAY),
    ("show", "1", "--json", "--today", TODAY),
    ("history", "1"),
    ("history", "1", "--json"),
    ("plans", "list", "--today", TODAY),
    ("plans", "show", "zwgk2020", "--today", TODAY),
    ("remind", "--dry-run", "--today", TODAY),
    ("remind", "--dry-run", "--today", TODAY, "--json"),
    ("show", "999", "--today", TODAY),  # unknown item: a Chinese error, exit 1
    ("items", "list", "--today", "2020-13-45"),  # a bad date: the parser's Chinese error
]


@pytest.mark.parametrize("args", READ_CASES, ids=" ".join)
def test_a_read_command_answers_the_same_through_the_server(shared, args):
    shared.ensure()
    here = shared.run(*args, preload=False)
    before = shared.served()
    there = shared.run(*args)
    assert shared.served() == before + 1, shared.logs()  # the server ran it
    assert (there.stdout, there.stderr, there.returncode) == (here.stdout, here.stderr, here.returncode)
    if args[:2] == ("show", "999"):
        assert there.returncode == 1 and there.stderr.decode().startswith("错误：") and there.stdout == b""


def test_the_global_option_may_stand_after_the_command_and_the_environment_is_the_callers(shared, tmp_path):
    """--config after the command is still a read command; TRACKER_CONFIG and the working folder come from the caller."""
    shared.ensure()
    args = ("show", "1", "--json", "--today", TODAY, "--config", str(shared.config))
    done = subprocess.run([TRACKER, *args], cwd=tmp_path, capture_output=True, timeout=60, env=shared.environment(False))
    before = shared.served()
    again = subprocess.run([TRACKER, *args], cwd=tmp_path, capture_output=True, timeout=60, env=shared.environment(True))
    assert shared.served() == before + 1
    assert (again.stdout, again.returncode) == (done.stdout, 0)
    # no --config: the caller's TRACKER_CONFIG, or ./config.toml in the caller's folder
    by_env = subprocess.run([TRACKER, "items", "list", "--json", "--today", TODAY], cwd=tmp_path, capture_output=True,
                            timeout=60, env=shared.environment(True, TRACKER_CONFIG=str(shared.config)))
    by_cwd = subprocess.run([TRACKER, "items", "list", "--json", "--today", TODAY], cwd=shared.root, capture_output=True,
                            timeout=60, env=shared.environment(True))
    here = shared.run("items", "list", "--json", "--today", TODAY, preload=False)
    assert shared.served() == before + 3
    assert by_env.stdout == by_cwd.stdout == here.stdout and by_env.returncode == by_cwd.returncode == 0
    missing = subprocess.run([TRACKER, "items", "list", "--json"], cwd=tmp_path, capture_output=True, timeout=60,
                             env=shared.environment(True))  # ./config.toml of an empty folder: the built-in defaults
    missing_here = subprocess.run([TRACKER, "items", "list", "--json"], cwd=tmp_path, capture_output=True, timeout=60,
                                  env=shared.environment(False))
    assert (missing.stdout, missing.stderr, missing.returncode) == \
        (missing_here.stdout, missing_here.stderr, missing_here.returncode)


def test_piped_in_and_out_and_several_callers_at_once(shared):
    shared.ensure()
    expected = {args: shared.run(*args, preload=False) for args in READ_CASES[:6]}
    before = shared.served()
    callers = {args: subprocess.Popen([TRACKER, "--config", str(shared.config), *args], cwd=shared.root,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=shared.environment(True)) for args in expected}
    for args, caller in callers.items():
        out, err = caller.communicate(b"ignored input\n", timeout=120)
        assert (out, err, caller.returncode) == (expected[args].stdout, expected[args].stderr, expected[args].returncode)
    assert shared.served() == before + len(expected)
    # into a pipe read by another program, as a script does
    piped = subprocess.run(f"{TRACKER} --config {shared.config} items list --json --today {TODAY} | {sys.executable} -c "
                           "\"import json, sys; print(len(json.load(sys.stdin)))\"", shell=True, capture_output=True,
                           timeout=120, env=shared.environment(True), cwd=shared.root)
    assert piped.stdout.decode().strip() == str(len(json.loads(expected[READ_CASES[0]].stdout)))
    assert shared.served() == before + len(expected) + 1


def test_a_command_that_writes_is_never_handed_over(shared):
    for args in (("status", "1.义务教育", "--unit", "县教育体育局", "--progress", "50", "--by", "张三"),
                 ("remind", "--today", TODAY), ("units", "list"), ("items", "--help")):
        before = shared.served()
        done = shared.run(*args)
        assert shared.served() == before, (args, shared.logs())
        if args[0] == "status":
            assert done.returncode == 0, done.stderr.decode()
            history = json.loads(shared.run("history", "1.义务教育", "--json").stdout)
            assert [(e["by"], e["unit"], e["to_progress"]) for e in history] == [("张三", "县教育体育局", 50)]
        if args == ("remind", "--today", TODAY):  # without --dry-run: the command's own refusal, in-process
            assert done.returncode == 1 and "--dry-run" in done.stderr.decode()


def _tiny_pipe() -> tuple[int, int]:
    """A pipe that holds one page: a command writing its listing into it blocks until someone reads."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, 1031, 4096)  # F_SETPIPE_SZ
    return read_end, write_end


def _pending(fd: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def _blocked_caller(home: Home, preload: bool, job: bool = False) -> tuple[subprocess.Popen, int, int]:
    """``job``: the caller in a process group of its own, as a shell runs a job. The kernel drops SIGTSTP sent to an
    orphaned group, which the test's own group is when the suite runs without a terminal's job control (CI)."""
    read_end, write_end = _tiny_pipe()
    caller = subprocess.Popen([TRACKER, "--config", str(home.config), "items", "list", "--json", "--today", TODAY],
                              cwd=home.root, stdout=write_end, stderr=subprocess.PIPE, env=home.environment(preload),
                              process_group=0 if job else None)
    os.close(write_end)
    assert wait_for(lambda: _pending(read_end) >= 4096, 60)
    return caller, read_end, write_end


def _drain(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def test_the_child_has_the_callers_streams_and_folder_and_dies_with_the_caller(home):
    home.warm()
    before = home.served()
    caller, read_end, _ = _blocked_caller(home, preload=True)
    assert wait_for(lambda: home.served() == before + 1, 30)
    child = int(re.findall(r" 第 \d+ 条命令，进程号 (\d+)：", home.logs())[-1])
    for fd in (1, 2):  # the very pipe the caller was given, not a copy
        assert os.readlink(f"/proc/{child}/fd/{fd}") == os.readlink(f"/proc/{caller.pid}/fd/{fd}")
    assert os.readlink(f"/proc/{child}/cwd") == str(home.root)
    caller.kill()
    caller.wait(timeout=30)
    assert wait_for(lambda: not _alive(child), 30), "the command went on after its caller was killed"
    os.close(read_end)
    assert "的调用方已退出，命令已终止" in home.logs()
    assert home.run("show", "1", "--json", "--today", TODAY).returncode == 0  # the server still serves
    assert home.served() == before + 2


def test_ctrl_c_and_sigterm_end_the_command_as_they_do_in_process(home):
    home.warm()
    outcomes = {}
    for preload in (False, True):
        for signum in (signal.SIGINT, signal.SIGTERM):
            caller, read_end, _ = _blocked_caller(home, preload)
            time.sleep(0.5)  # well inside the blocked write, in both cases
            caller.send_signal(signum)
            _drain(read_end)
            err = caller.stderr.read()
            caller.wait(timeout=60)
            outcomes[preload, signum] = (caller.returncode, err)
    for signum in (signal.SIGINT, signal.SIGTERM):
        assert outcomes[True, signum] == outcomes[False, signum], (signum, outcomes)
    assert outcomes[True, signal.SIGTERM][0] == -signal.SIGTERM
    assert outcomes[True, signal.SIGINT][0] != 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_that_reaches_the_command_after_it_finished_still_ends_it_as_in_process(home, signum):
    """The caller passes Ctrl-C or SIGTERM on through the server, so it arrives a moment late: here as late as can
    be, with the server stopped until the command has written everything and exited. In-process the same signal,
    sent while the command was blocked in its write, ends it 130 (Ctrl-C) or killed by SIGTERM; so does this."""
    home.warm()
    before = home.served()
    caller, read_end, _ = _blocked_caller(home, preload=True)
    assert wait_for(lambda: home.served() == before + 1, 30)
    child = int(re.findall(r" 第 \d+ 条命令，进程号 (\d+)：", home.logs())[-1])
    server = home.live_servers()[0]
    os.kill(server, signal.SIGSTOP)
    try:
        caller.send_signal(signum)
        os.set_blocking(read_end, False)  # the caller holds the pipe's other end too: read until the command has exited
        chunks = []
        deadline = time.monotonic() + 60
        while _state(child) not in ("Z", None) and time.monotonic() < deadline:
            try:
                chunks.append(os.read(read_end, 1 << 16))
            except BlockingIOError:
                time.sleep(0.01)
        assert _state(child) in ("Z", None), "the command did not finish with its server stopped"
    finally:
        os.kill(server, signal.SIGCONT)
    os.set_blocking(read_end, True)
    chunks.append(_drain(read_end))
    assert json.loads(b"".join(chunks))  # the command wrote its whole listing before the signal reached it
    caller.wait(timeout=60)
    assert (caller.returncode, caller.stderr.read()) == ((130, b"") if signum == signal.SIGINT else (-signum, b""))


def test_ctrl_z_stops_the_command_and_fg_lets_it_go_on_as_in_process(home):
    """Ctrl-Z (SIGTSTP) on the caller: the job stops and the command with it, so nothing more is written while it is
    stopped; SIGCONT (`fg`) lets it finish. In-process the command is the caller; through the server it is the child."""
    home.warm()
    whole = home.run("items", "list", "--json", "--today", TODAY, preload=False).stdout
    for preload in (False, True):
        before = home.served()
        caller, read_end, _ = _blocked_caller(home, preload, job=True)
        if preload:
            assert wait_for(lambda: home.served() == before + 1, 30)
            command = int(re.findall(r" 第 \d+ 条命令，进程号 (\d+)：", home.logs())[-1])
        else:
            command = caller.pid
        caller.send_signal(signal.SIGTSTP)
        assert wait_for(lambda: _state(caller.pid) == "T" and _state(command) == "T", 30), (preload, _state(command))
        os.set_blocking(read_end, False)
        chunks, deadline = [], time.monotonic() + 1.5
        while time.monotonic() < deadline:  # the page the pipe held, then nothing while the command is stopped
            try:
                chunks.append(os.read(read_end, 1 << 16))
            except BlockingIOError:
                time.sleep(0.01)
        assert len(b"".join(chunks)) <= 4096, (preload, len(b"".join(chunks)))
        caller.send_signal(signal.SIGCONT)
        os.set_blocking(read_end, True)
        chunks.append(_drain(read_end))
        caller.wait(timeout=60)
        assert caller.returncode == 0, (preload, caller.returncode)
        # the whole listing: the write the stop cut short is finished, not dropped (tracker.cli.output.write_all)
        assert b"".join(chunks) == whole, preload


def _state(pid: int) -> str | None:
    """The process's state letter (Z for exited but not yet waited for), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def test_edited_code_is_never_answered_by_the_old_server(home, tmp_path):
    """A copy of the packages first on the module path: editing one of its files (one the server has imported) makes
    the running server leave and the next command start one with the new code."""
    tree = tmp_path / "tree"
    for package in ("tracker", "schedules", "notifications"):
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    env = home.environment(True, PYTHONPATH=str(tree))
    listing = ("items", "list", "--today", "2021-03-15")
    first = home.run(*listing, env=env)
    assert "● 红".encode() in first.stdout
    home.wait_for_server()
    old = home.live_servers()
    assert len(old) == 1
    before = home.served()
    assert home.run(*listing, env=env).stdout == first.stdout
    assert home.served() == before + 1
    source = tree / "tracker" / "cli" / "output.py"  # preloaded by the server
    source.write_text(source.read_text("utf-8").replace('"● 红"', '"● 赤"'), "utf-8")
    edited = home.run(*listing, env=env)  # the old server's socket is not even looked at
    assert "● 赤".encode() in edited.stdout and "● 红".encode() not in edited.stdout
    assert home.served() == before + 1
    assert wait_for(lambda: not _alive(old[0]), 30), home.logs()
    assert "退出（代码已更新）" in home.logs()
    home.wait_for_server()
    again = home.run(*listing, env=env)
    assert home.served() == before + 2
    assert again.stdout == edited.stdout


def test_the_server_leaves_when_idle(home):
    home.env["TRACKER_PRELOAD_IDLE"] = "8"
    home.warm()
    assert home.run("show", "1", "--today", TODAY).returncode == 0
    assert home.served() == 1
    pid = home.live_servers()[0]
    assert wait_for(lambda: not _alive(pid), 30)
    assert "退出（空闲），共执行 1 条命令" in home.logs()
    assert list(home.run_dir.glob("*.sock")) == []


def test_a_stale_socket_or_a_server_of_another_user_is_ignored(home):
    home.warm()
    expected = home.run("show", "1", "--json", "--today", TODAY, preload=False).stdout
    [path] = home.run_dir.glob("*.sock")
    [pid] = home.live_servers()
    os.kill(pid, signal.SIGKILL)  # leaves its socket file behind
    assert wait_for(lambda: not _alive(pid), 20)
    assert path.exists()
    before = home.served()
    done = home.run("show", "1", "--json", "--today", TODAY)
    assert (done.stdout, done.returncode) == (expected, 0) and home.served() == before  # answered in-process
    home.wait_for_server()  # ... and a new server replaced the dead one's socket
    assert home.run("show", "1", "--json", "--today", TODAY).stdout == expected and home.served() == before + 1
    if os.geteuid() != 0:
        return
    home.stop()
    assert not path.exists()  # a server told to stop removes its socket
    # a socket at the same path whose listener is another user (listen() as uid 65534): never handed anything
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    impostor = subprocess.Popen([sys.executable, "-c", (
        "import socket, sys\n"
        f"s = socket.socket(fileno={listener.fileno()}); s.listen(8); s.settimeout(15)\n"
        "accepted = got = 0\n"
        "try:\n"
        "    c, _ = s.accept(); c.settimeout(5); accepted = 1\n"
        "    while (d := c.recv(4096)): got += len(d)\n"
        "except OSError: pass\n"
        "print(accepted, got, flush=True)\n")], executable="/usr/bin/python3", pass_fds=[listener.fileno()], user=65534, group=65534,
        stdout=subprocess.PIPE, env={"PATH": os.environ.get("PATH", "")}, cwd="/")
    listener.close()
    time.sleep(1)
    done = home.run("show", "1", "--json", "--today", TODAY)
    assert (done.stdout, done.returncode) == (expected, 0)
    out, _ = impostor.communicate(timeout=60)
    assert out.split() == [b"1", b"0"]  # the launcher connected, saw the listener's uid and sent nothing


def test_a_socket_folder_others_can_enter_is_not_used(home):
    home.run_dir.mkdir(mode=0o755)
    os.chmod(home.run_dir, 0o755)
    done = home.run("show", "1", "--json", "--today", TODAY)
    assert done.returncode == 0
    time.sleep(1)
    assert list(home.run_dir.iterdir()) == []


def _on_a_terminal(home: Home, args: tuple[str, ...], preload: bool) -> tuple[bytes, int]:
    main, secondary = os.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 132, 0, 0))
    caller = subprocess.Popen([TRACKER, "--config", str(home.config), *args], cwd=home.root, stdin=secondary,
                              stdout=secondary, stderr=secondary, env=home.environment(preload, TERM="xterm-256color"))
    os.close(secondary)
    out = []
    while True:
        try:
            chunk = os.read(main, 1 << 16)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        out.append(chunk)
    os.close(main)
    return b"".join(out), caller.wait(timeout=60)


@pytest.mark.parametrize("args", [("show", "1", "--today", TODAY), ("items", "list", "--today", "2021-03-15"),
                                  ("show", "1", "--json", "--today", TODAY), ("show", "999")], ids=" ".join)
def test_on_a_terminal_the_colours_and_widths_are_the_same(shared, args):
    shared.ensure()
    here = _on_a_terminal(shared, args, preload=False)
    before = shared.served()
    there = _on_a_terminal(shared, args, preload=True)
    assert shared.served() == before + 1
    assert there == here
    if args[0] == "items":
        assert "\x1b[1;31m● 红".encode() in here[0]  # rich saw a terminal: bold red lights


def test_the_launcher_loads_no_third_party_module(shared):
    """Neither to decide, nor to hand a command over (it exits before importing the tracker's own CLI)."""
    probe = ("import atexit, json, os, sys\n"
             "atexit.register(lambda: open(os.environ['MODULES_OUT'], 'w').write(json.dumps(sorted(sys.modules))))\n"
             "from tracker.cli.launch import main\nmain()\n")
    out = shared.root / "modules.json"
    baseline = subprocess.run([sys.executable, "-P", "-c", "import sys, json; print(json.dumps(sorted(sys.modules)))"],
                              capture_output=True, env=shared.environment(True), timeout=60)
    base = set(json.loads(baseline.stdout))
    shared.ensure()
    for _attempt in range(60):  # the first may start a server of its own (another interpreter path is another key)
        before = shared.served()
        done = subprocess.run([sys.executable, "-P", "-c", probe, "--config", str(shared.config), "show", "1", "--json",
                               "--today", TODAY], capture_output=True, timeout=120, cwd=shared.root,
                              env=shared.environment(True, MODULES_OUT=str(out)))
        assert done.returncode == 0, done.stderr
        if shared.served() == before + 1:
            break
        time.sleep(1)
    else:
        raise AssertionError("never handed over: " + shared.logs())
    loaded = set(json.loads(out.read_text())) - base
    foreign = sorted(m for m in loaded if m.split(".")[0] not in sys.stdlib_module_names
                     and m.split(".")[0] not in {"tracker", *THIRD_PARTY_OK})
    assert foreign == []
    assert sorted(m for m in loaded if m.startswith("tracker")) == ["tracker", "tracker.cli", "tracker.cli.launch"]


def test_the_launchers_tables_match_the_command_line():
    """The launcher cannot import the CLI (that is the cost it avoids), so its copies are checked here: the global
    options it skips are the root's, and every command it hands over exists and is not one that writes."""
    from tracker.cli import chinese, launch
    from tracker.cli.app import COMMANDS, load_command

    assert launch.GLOBAL_OPTIONS == tuple(chinese.GLOBAL_OPTIONS)
    for command, sub, flag in launch.READ_COMMANDS:
        assert command in COMMANDS
        loaded = load_command(command)
        target = loaded.commands[sub] if sub else loaded  # type: ignore[union-attr]
        options = {o for p in target.params for o in getattr(p, "opts", [])}
        assert flag is None or flag in options, (command, sub, flag)
    assert not launch.read_command(["status", "1", "--unit", "x", "--set", "done"])
    assert not launch.read_command(["remind", "--today", "2020-10-09"])
    assert launch.read_command(["items", "list", "--config", "c.toml"]) and launch.read_command(["--config=c.toml", "show", "1"])
    assert not launch.read_command(["--config", "items", "list"])  # "items" is the config file here: `list` is the command
