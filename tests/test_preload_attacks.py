"""Attacks on the preloaded command server: a command handed to it must behave exactly as the same command run
in-process, whatever the caller's command line, descriptors, groups, priority, signals or settings, and one odd
request must never harm the others. Real processes, each test with its own socket folder; every server started is
stopped at the end (the `home` fixture of tests/test_preload.py).
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests import test_preload
from tests.test_preload import TODAY, TRACKER, Home, _alive, _blocked_caller, _drain, _pending, _tiny_pipe
from tests.test_preload import home  # noqa: F401 - the fixture: a private socket folder, its servers stopped after
from tracker.cli import launch

pytestmark = test_preload.pytestmark

GBK_WORD = b"\xd5\xee\xcf\xee"  # 真相 in GBK: not UTF-8


def _runner(caller: subprocess.Popen) -> int:
    """The process running the caller's command: a server's child writing to the caller's stdout, or the caller."""
    target = os.readlink(f"/proc/{caller.pid}/fd/1")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == caller.pid:
            continue
        try:
            if os.readlink(entry / "fd" / "1") == target:
                return int(entry.name)
        except OSError:
            continue
    return caller.pid


def _status(pid: int, field: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(field)


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _run_bytes(home: Home, args: list[bytes], preload: bool, prefix: tuple[str, ...] = (), **extra: str):
    return subprocess.run([*prefix, TRACKER, "--config", str(home.config), *args], cwd=home.root, capture_output=True,
                          timeout=120, env=home.environment(preload, **extra))


def test_undecodable_bytes_in_the_command_line_answer_as_in_process_and_harm_no_other_command(home):
    home.warm()
    caller, read_end, _ = _blocked_caller(home, preload=True)
    assert _runner(caller) != caller.pid  # the concurrent command is the server's
    before = home.served()
    through = _run_bytes(home, [b"show", GBK_WORD, b"--today", TODAY.encode()], preload=True)
    here = _run_bytes(home, [b"show", GBK_WORD, b"--today", TODAY.encode()], preload=False)
    assert (through.returncode, through.stdout, through.stderr) == (here.returncode, here.stdout, here.stderr)
    assert here.returncode == 1 and "预加载" not in here.stderr.decode("utf-8", "replace")
    assert home.served() == before + 1  # it was the server's, not a fallback
    listing = _drain(read_end)
    caller.wait(timeout=60)
    assert caller.returncode == 0, caller.stderr.read()
    assert len(json.loads(listing)) > 0
    assert home.live_servers()  # still serving
    # an undecodable value in the environment reaches the child unchanged
    env = home.environment(True)
    env_bytes = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
    env_bytes[b"TRACKER_ODD"] = GBK_WORD
    done = subprocess.run([TRACKER, "--config", str(home.config), "show", "1", "--today", TODAY], cwd=home.root,
                          capture_output=True, timeout=120, env=env_bytes)
    assert done.returncode == 0 and home.served() == before + 2


def _readable_within(fd: int, seconds: float) -> bool:
    return bool(select.select([fd], [], [], seconds)[0])


def test_a_started_server_keeps_none_of_the_callers_descriptors(home):
    """A cron job's lock and a parent's pipe end are let go when the command ends, not held by the server it started."""
    lock = home.root / "cron.lock"
    script = (f'( flock -n 9 || exit 3; "{TRACKER}" --config "{home.config}" show 1 --today {TODAY} >/dev/null ) '
              f'9>"{lock}"')
    assert subprocess.run(["bash", "-c", script], cwd=home.root, env=home.environment(True), timeout=120).returncode == 0
    home.wait_for_server()
    assert home.live_servers()
    assert subprocess.run(["flock", "-n", str(lock), "true"], timeout=30).returncode == 0, "the server holds the lock"
    home.stop()
    read_end, write_end = os.pipe()
    caller = subprocess.Popen([TRACKER, "--config", str(home.config), "show", "1", "--today", TODAY], cwd=home.root,
                              stdout=subprocess.DEVNULL, env=home.environment(True), pass_fds=(write_end,))
    os.close(write_end)
    assert caller.wait(timeout=120) == 0
    home.wait_for_server()
    try:
        assert _readable_within(read_end, 10) and os.read(read_end, 1) == b"", "the server holds the pipe open"
    finally:
        os.close(read_end)
    # and a child running a command has no descriptor of the server's or of another caller's
    caller, read_end, _ = _blocked_caller(home, preload=True)
    child = _runner(caller)
    assert child != caller.pid
    targets = {os.readlink(f"/proc/{child}/fd/{fd}") for fd in os.listdir(f"/proc/{child}/fd")}
    assert not any(t.startswith("socket:") and t != os.readlink(f"/proc/{caller.pid}/fd/2") for t in targets
                   if t not in (os.readlink(f"/proc/{caller.pid}/fd/{fd}") for fd in (0, 1, 2))), targets
    assert not any(str(home.run_dir) in t for t in targets), targets
    _drain(read_end)
    assert caller.wait(timeout=60) == 0


def test_the_command_runs_with_the_callers_priority_and_groups(home):
    home.stop()
    prefix = ("nice", "-n", "15", "setpriv", "--groups", "0,4242")
    assert _run_bytes(home, [b"show", b"1", b"--today", TODAY.encode()], True, prefix).returncode == 0
    home.wait_for_server()  # a server started by the odd caller
    caller, read_end, _ = _blocked_caller(home, preload=True)
    runner = _runner(caller)
    assert _nice(runner) == _nice(os.getpid())
    assert _status(runner, "Groups").split() == _status(caller.pid, "Groups").split()
    _drain(read_end)
    assert caller.wait(timeout=60) == 0
    home.wait_for_server()
    # and the odd caller gets the same through its own server as in-process
    for preload in (True, False):
        done = _run_bytes(home, [b"show", b"1", b"--json", b"--today", TODAY.encode()], preload, prefix)
        assert done.returncode == 0, done.stderr


def _ignoring_caller(home: Home, preload: bool) -> tuple[subprocess.Popen, int]:
    read_end, write_end = _tiny_pipe()
    command = f'trap "" INT TERM; exec "{TRACKER}" --config "{home.config}" items list --json --today {TODAY}'
    caller = subprocess.Popen(["bash", "-c", command], cwd=home.root, stdout=write_end, stderr=subprocess.PIPE,
                              env=home.environment(preload))
    os.close(write_end)
    assert wait_for(lambda: _pending(read_end) >= 4096, 60)
    return caller, read_end


def test_a_caller_that_ignores_interrupts_is_not_interrupted_through_the_server(home):
    home.warm()
    outcomes = {}
    for preload in (False, True):
        caller, read_end = _ignoring_caller(home, preload)
        runner = _runner(caller)
        assert (runner != caller.pid) == preload
        for pid in {caller.pid, runner}:
            os.kill(pid, signal.SIGINT)
            os.kill(pid, signal.SIGTERM)
        time.sleep(0.5)
        listing = _drain(read_end)
        caller.wait(timeout=60)
        outcomes[preload] = (caller.returncode, len(listing), caller.stderr.read())
    assert outcomes[True] == outcomes[False] and outcomes[True][0] == 0, outcomes


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGUSR1])
def test_a_command_killed_by_another_signal_ends_its_caller_the_same_way(home, signum):
    home.warm()
    caller, read_end, _ = _blocked_caller(home, preload=True)
    child = _runner(caller)
    assert child != caller.pid
    os.kill(child, signum)
    caller.wait(timeout=60)
    os.close(read_end)
    assert caller.returncode == -signum
    assert caller.stderr.read() == b""  # no traceback
    assert home.live_servers()


def test_the_server_dying_mid_command_is_said_and_ends_the_command(home):
    home.warm()
    caller, read_end, _ = _blocked_caller(home, preload=True)
    child = _runner(caller)
    assert child != caller.pid
    for pid in home.live_servers():
        os.kill(pid, signal.SIGKILL)
    caller.wait(timeout=60)
    os.close(read_end)
    assert caller.returncode == 1
    assert "后台预加载进程意外退出" in caller.stderr.read().decode()
    assert wait_for(lambda: not _alive(child), 30)


def _raw_request(home: Home, argv: list[str], key: str | None = None, go: bool = True) -> bytes:
    """Speak the launcher's protocol by hand: what the server answers (A, D or nothing)."""
    path = next(home.run_dir.glob("*.sock"))
    body = json.dumps({"key": key or path.stem, "argv": argv, "env": home.environment(True), "umask": 0o022,
                       "stdio": [["utf-8", "strict", False, False]] * 3, "ignored": []}).encode()
    null = os.open(os.devnull, os.O_RDWR)
    cwd = os.open(str(home.root), os.O_RDONLY | os.O_DIRECTORY)
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(str(path))
            socket.send_fds(sock, [launch.HEADER.pack(len(body))], [null, null, null, cwd])
            sock.sendall(body)
            answer = sock.recv(1)
            if answer == launch.ACCEPTED and go:
                sock.sendall(launch.GO)
                code = sock.recv(launch.CODE.size)
                return answer + code
            return answer
    finally:
        os.close(null)
        os.close(cwd)


def test_the_server_declines_another_key_and_any_command_that_writes_and_runs_nothing_without_go(home):
    home.warm()
    before = home.served()
    show = [TRACKER, "--config", str(home.config), "show", "1", "--today", TODAY]
    assert _raw_request(home, show, key="0" * 24) == launch.DECLINED
    assert _raw_request(home, [TRACKER, "--config", str(home.config), "remind", "--today", TODAY]) == launch.DECLINED
    assert _raw_request(home, [TRACKER, "--config", str(home.config), "init", "--start", "2020-08-01"]) == launch.DECLINED
    assert _raw_request(home, show, go=False) == launch.ACCEPTED
    time.sleep(1)
    assert home.served() == before  # accepted, but the caller ran it itself: nothing forked
    assert _raw_request(home, show) == launch.ACCEPTED + launch.CODE.pack(0)
    assert home.served() == before + 1


def test_the_child_has_the_callers_umask_and_time_zone(home):
    env = home.environment(True, TZ="America/Caracas")  # read at start-up: a server of its own
    assert home.run("show", "1", "--today", TODAY, env=env).returncode == 0
    home.wait_for_server()
    read_end, write_end = _tiny_pipe()
    caller = subprocess.Popen([TRACKER, "--config", str(home.config), "items", "list", "--json", "--today", TODAY],
                              cwd=home.root, stdout=write_end, stderr=subprocess.PIPE, env=env,
                              preexec_fn=lambda: os.umask(0o027))
    os.close(write_end)
    assert wait_for(lambda: _pending(read_end) >= 4096, 60)
    runner = _runner(caller)
    assert runner != caller.pid
    assert _status(runner, "Umask") == "0027"
    assert b"TZ=America/Caracas\0" in Path(f"/proc/{runner}/environ").read_bytes()
    _drain(read_end)
    assert caller.wait(timeout=60) == 0


def test_a_relative_socket_folder_is_the_callers_and_a_linked_script_uses_the_server(home, tmp_path):
    env = home.environment(True, TRACKER_PRELOAD_DIR="rel-run")
    done = subprocess.run([TRACKER, "--config", str(home.config), "show", "1", "--today", TODAY], cwd=home.root,
                          capture_output=True, timeout=120, env=env)
    assert done.returncode == 0
    other = Home.__new__(Home)
    other.__dict__.update(home.__dict__, run_dir=home.root / "rel-run")
    try:
        other.wait_for_server()
        assert not Path("/rel-run").exists()
    finally:
        other.stop()
    home.warm()
    link = tmp_path / "bin" / "tracker"
    link.parent.mkdir()
    link.symlink_to(TRACKER)
    before = home.served()
    done = subprocess.run([str(link), "--config", str(home.config), "show", "1", "--today", TODAY], cwd=home.root,
                          capture_output=True, timeout=120, env=home.environment(True))
    assert done.returncode == 0 and home.served() == before + 1


def test_the_library_path_is_part_of_the_key():
    base = {"PATH": "/usr/bin"}
    assert launch.startup_environment({**base, "LD_LIBRARY_PATH": "/opt/x"}) != launch.startup_environment(base)


def test_stale_files_of_other_keys_are_removed_and_the_log_is_private(home):
    home.run_dir.mkdir(mode=0o700)
    for stem in ("f" * 24, "d" * 24):
        for suffix in ("lock", "log", "sock"):
            (home.run_dir / f"{stem}.{suffix}").write_text("")
            (home.run_dir / f"{stem}.{suffix}").chmod(0o600)  # as a server makes them
    day_and_more = time.time() - 2 * 86400
    os.utime(home.run_dir / f"{'f' * 24}.log", (day_and_more, day_and_more))  # d's log is recent: an operator may read it
    held = home.run_dir / f"{'e' * 24}.lock"
    held.write_text("")
    import fcntl  # noqa: PLC0415

    with open(held) as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)  # a running server of another key: its files stay
        home.warm()
        names = {p.name for p in home.run_dir.iterdir()}
        assert not any(n.startswith("f" * 24) for n in names), names
        assert {n for n in names if n.startswith("d" * 24)} == {f"{'d' * 24}.log"}, names
        assert held.name in names
    for log in home.run_dir.glob("*.log"):
        assert log.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("idle", ["0", "nan", "inf", "-5"])
def test_an_unusable_idle_time_is_the_default(home, idle):
    home.env["TRACKER_PRELOAD_IDLE"] = idle
    home.warm()
    time.sleep(1)
    before = home.served()
    assert home.run("show", "1", "--today", TODAY).returncode == 0
    assert home.served() == before + 1


def _traces_within(home: Home, env: dict[str, str], seconds: float) -> list[str]:
    """Run a read command, then look for a server's files for `seconds` (a server makes its lock and log at once)."""
    assert home.run("show", "1", "--json", "--today", TODAY, env=env).returncode == 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = sorted(p.name for p in home.run_dir.glob("*") if p.suffix in (".lock", ".log")) \
            if home.run_dir.exists() else []
        if found:
            return found
        time.sleep(0.1)
    return []


@pytest.mark.parametrize("variable", ["TRACKER_PRELOAD", "FAKETIME", "LD_PRELOAD", None])
def test_off_when_asked_or_under_faketime_no_server_at_all(home, variable):
    """Preloading steps aside: no server is even started (a check that only looked at the end could not fail). None: the positive
    control, the same wait sees a server's files when preloading is on."""
    env = home.environment(True)
    if variable is not None:
        env[variable] = {"TRACKER_PRELOAD": "0", "FAKETIME": "+0d", "LD_PRELOAD": "libc.so.6"}[variable]
        assert _traces_within(home, env, 5) == []
    else:
        assert _traces_within(home, env, 5) != []
        home.wait_for_server()


def test_in_development_mode_the_launcher_warns_of_nothing_the_command_does_not(home):
    """python -X dev shows unclosed sockets and processes left running: the launcher leaves neither, whether it
    starts a server or hands the command to one."""
    env = home.environment(True, PYTHONDEVMODE="1")
    here = home.run("show", "1", "--today", TODAY, env={**env, "TRACKER_PRELOAD": "0"})
    starting = home.run("show", "1", "--today", TODAY, env=env)
    home.wait_for_server()
    before = home.served()
    through = home.run("show", "1", "--today", TODAY, env=env)
    assert home.served() == before + 1
    assert here.returncode == 0
    for other in (starting, through):
        assert (other.returncode, other.stdout, other.stderr) == (here.returncode, here.stdout, here.stderr)
