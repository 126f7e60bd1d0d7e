"""`python -m bench.startup [--runs N] [--out startup.json]`: how long a clerk waits for a command to answer.

Each command runs as a person runs it (a fresh process, stdout into a pipe), side by side with
`python -c pass` (the interpreter's own start-up, the floor no Python command can beat), alternating,
on a database made by `tracker init` with the bundled seed plan. Figures are medians.
"""

from __future__ import annotations

import argparse
import json
import os
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


def _seconds(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, capture_output=True, check=True, env=ENV)
    return time.perf_counter() - started


def measure(runs: int, work: Path) -> dict[str, Any]:
    config = work / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{work / "tracker.db"}"\n', "utf-8")
    subprocess.run([*TRACKER, "--config", str(config), "init", "--start", "2020-08-01"], cwd=work, capture_output=True, check=True,
                   env=ENV)
    floor_cmd = [sys.executable, "-c", "pass"]
    rows = []
    for label, args in COMMANDS.items():
        command = [*TRACKER, "--config", str(config), *args] if args != ["--help"] else [*TRACKER, "--help"]
        _seconds(command, work), _seconds(floor_cmd, work)  # one untimed run of each: the page cache is warm for both
        ours, floor = [], []
        for _ in range(runs):
            ours.append(_seconds(command, work))
            floor.append(_seconds(floor_cmd, work))
        rows.append({"command": label, "median_s": statistics.median(ours), "min_s": min(ours), "max_s": max(ours),
                     "python_pass_s": statistics.median(floor)})
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    return {"runs": runs, "commands": rows}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description="命令启动时间（与 python -c pass 并排测量）。")
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path("bench-startup.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracker-startup-") as folder:
        results = measure(args.runs, Path(folder))
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2), "utf-8")


if __name__ == "__main__":
    main()
