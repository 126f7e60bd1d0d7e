"""`python -m bench.startup [--runs N] [--against TREE] [--out startup.json]`: how long a clerk waits for a command to answer.

Each command runs as a person runs it (a fresh process, stdout into a pipe), side by side with
`python -c pass` (the interpreter's own start-up, the floor no Python command can beat), alternating,
on a database made by `tracker init` with the bundled seed plan. Figures are medians, of the wall time and of
the process's CPU time (user + system): on a shared machine the wall time is mostly waiting for a core.

``--against TREE`` also runs every command from another source tree (e.g. the previous commit, unpacked with
`git archive REV | tar -x -C TREE`) in the same rounds, so a before/after comparison sees the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TRACKER = [sys.executable, "-c", "from tracker.cli.app import main; main()"]
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
    rows = []
    for label, args in COMMANDS.items():
        command = [*TRACKER, "--config", str(config), *args] if args != ["--help"] else [*TRACKER, "--help"]
        ours, floor, other = [], [], []
        for run in range(runs + 1):  # the first round is untimed: the page cache is warm for all
            mine, bare = _seconds(command, work), _seconds(floor_cmd, work)
            theirs = _seconds(command, work, other_env) if other_env else None
            if run:
                ours.append(mine)
                floor.append(bare)
                if theirs:
                    other.append(theirs)
        pass_ = _summary(floor)
        rows.append({"command": label, **_summary(ours), "python_pass_s": pass_["median_s"],
                     "python_pass_cpu_s": pass_["cpu_median_s"], **({"against": _summary(other)} if other else {})})
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
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
