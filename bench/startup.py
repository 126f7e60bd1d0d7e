"""`python -m bench.startup [--runs N] [--against TREE] [--out startup.json]`: how long a clerk waits for a command to answer.

Each command runs as a person runs it (a fresh process, stdout into a pipe), side by side with
`python -c pass` (the interpreter's own start-up, the floor no Python command can beat), alternating,
on a database made by `tracker init` with the bundled seed plan. Figures are medians, of the wall time and of
the process's CPU time (user + system): on a shared machine the wall time is mostly waiting for a core.

Each command runs through the `tracker` console script twice per round: **cold** (``TRACKER_PRELOAD=0``: the command
imports everything itself, as every command did before the preloaded server) and, for the read commands the launcher
hands over, **preloaded** (the background server of tracker/cli/launch.py already running, started before the timed
rounds by one untimed command and stopped at the end). `tracker --help` is never handed over and has no preloaded row.

``--against TREE`` also runs every command from another source tree (e.g. the previous commit, unpacked with
`git archive REV | tar -x -C TREE`) in the same rounds, so a before/after comparison sees the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tracker.cli.launch import read_command

TRACKER = [sys.executable, "-c", "from tracker.cli.app import main; main()"]
SCRIPT = [str(Path(sys.executable).with_name("tracker"))]  # the console script: the launcher, as a clerk runs it
COMMANDS = {
    "tracker --help": ["--help"],
    "tracker items list --json": ["items", "list", "--json", "--today", "2020-10-09"],
    "tracker items list --overdue --json": ["items", "list", "--overdue", "--json", "--today", "2021-03-15"],
    "tracker show 1 --json": ["show", "1", "--json", "--today", "2020-10-09"],
    "tracker remind --dry-run": ["remind", "--dry-run", "--today", "2020-10-09"],
}


# As installed: bytecode cached. PYTHONDONTWRITEBYTECODE (set in some shells and CI) would make every run compile
# the tracker's own modules from source again.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def preload_env(run_dir: Path) -> dict[str, str]:
    """The environment of a command that may be handed to the preloaded server of ``run_dir`` (a private folder)."""
    return {**ENV, "TRACKER_PRELOAD": "1", "TRACKER_PRELOAD_DIR": str(run_dir), "TRACKER_PRELOAD_IDLE": "3600"}


def warm_server(command: list[str], cwd: Path, run_dir: Path) -> None:
    """Run one read command (which starts the server) and wait until the server answers."""
    subprocess.run(command, cwd=cwd, capture_output=True, check=True, env=preload_env(run_dir))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for path in run_dir.glob("*.sock"):
            with socket.socket(socket.AF_UNIX) as probe:
                try:
                    probe.connect(str(path))
                    return
                except OSError:
                    pass
        time.sleep(0.1)
    raise SystemExit("预加载进程没有启动：" + " ".join(p.read_text("utf-8") for p in run_dir.glob("*.log")))


def served(run_dir: Path) -> int:
    """Commands the server has answered (from its log): a preloaded figure counts only if the server ran it."""
    return sum(len(re.findall(r" 第 \d+ 条命令，进程号 \d+：", p.read_text("utf-8"))) for p in run_dir.glob("*.log"))


def server_children_cpu(run_dir: Path) -> float:
    """CPU seconds of the commands the servers of ``run_dir`` have run (their children, collected when they exit)."""
    total = 0
    for log in run_dir.glob("*.log"):
        for pid in re.findall(r" 启动，进程号 (\d+)", log.read_text("utf-8")):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[13]) + int(fields[14])  # cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


def stop_servers(run_dir: Path) -> None:
    for log in run_dir.glob("*.log"):
        for pid in re.findall(r" 启动，进程号 (\d+)", log.read_text("utf-8")):
            try:
                os.kill(int(pid), signal.SIGTERM)
            except ProcessLookupError:
                pass


def _seconds(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run."""
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(command, cwd=cwd, capture_output=True, check=True, env=env or ENV)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _summary(runs: list[tuple[float, float]]) -> dict[str, float]:
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    return {"median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls), "cpu_median_s": statistics.median(cpus)}


def measure(runs: int, work: Path, against: Path | None = None) -> dict[str, Any]:
    config = work / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{work / "tracker.db"}"\n', "utf-8")
    subprocess.run([*TRACKER, "--config", str(config), "init", "--start", "2020-08-01"], cwd=work, capture_output=True, check=True,
                   env=ENV)
    floor_cmd = [sys.executable, "-c", "pass"]
    other_env = {**ENV, "PYTHONPATH": str(against)} if against else None  # its tracker shadows the installed one
    cold_env = {**ENV, "TRACKER_PRELOAD": "0"}
    run_dir = work / "preload"
    rows = []
    try:
        warm_server([*SCRIPT, "--config", str(config), "show", "1", "--json", "--today", "2020-10-09"], work, run_dir)
        for label, args in COMMANDS.items():
            command = [*SCRIPT, "--config", str(config), *args] if args != ["--help"] else [*SCRIPT, "--help"]
            old = [*TRACKER, "--config", str(config), *args] if args != ["--help"] else [*TRACKER, "--help"]
            handed_over = read_command(command[1:])
            ours, warm, floor, other = [], [], [], []
            for run in range(runs + 1):  # the first round is untimed: the page cache is warm for all
                mine, bare = _seconds(command, work, cold_env), _seconds(floor_cmd, work)
                before, children = served(run_dir), server_children_cpu(run_dir)
                fast = _seconds(command, work, preload_env(run_dir)) if handed_over else None
                if fast:  # the launcher's CPU and the forked child's, which is the server's child, not ours
                    if served(run_dir) != before + 1:
                        raise SystemExit(f"{label}：预加载进程没有执行这条命令，数字无效")
                    fast = (fast[0], fast[1] + server_children_cpu(run_dir) - children)
                theirs = _seconds(old, work, other_env) if other_env else None
                if run:
                    ours.append(mine)
                    floor.append(bare)
                    if fast:
                        warm.append(fast)
                    if theirs:
                        other.append(theirs)
            pass_ = _summary(floor)
            rows.append({"command": label, **_summary(ours), "python_pass_s": pass_["median_s"],
                         "python_pass_cpu_s": pass_["cpu_median_s"], **({"preloaded": _summary(warm)} if warm else {}),
                         **({"against": _summary(other)} if other else {})})
            print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    finally:
        stop_servers(run_dir)
    return {"runs": runs, "against": str(against) if against else None, "commands": rows}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description="命令启动时间（与 python -c pass 并排测量）。")
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--against", type=Path, help="另一份源码目录（如上一个提交），在同样的轮次中交替测量，便于前后对比")
    parser.add_argument("--out", type=Path, default=Path("bench-startup.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracker-startup-") as folder:
        results = measure(args.runs, Path(folder), args.against.resolve() if args.against else None)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2), "utf-8")


if __name__ == "__main__":
    main()
