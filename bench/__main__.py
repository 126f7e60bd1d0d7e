"""`python -m bench [--scales county,prefecture,province,stress] [--runs N] [--out results.json]`."""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import tempfile
from pathlib import Path

from bench.generate import SCALES, generate
from bench.measure import measure_jobs, measure_scale
from bench.peer import compare_with_taskwarrior
from bench.table import markdown


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description="从一个县到一个省的基准测试（与下限并排测量）。")
    parser.add_argument("--scales", default="county,prefecture,province,stress")
    parser.add_argument("--runs", type=int, default=5, help="每项测量的次数（取中位数）")
    parser.add_argument("--plans", type=int, default=1, help="每个县的计划数（同样的单位，每个计划都是种子计划的形状）")
    parser.add_argument("--peer", default="10000,100000", help="与 Taskwarrior 对比的任务数，逗号分隔；空则不比")
    parser.add_argument("--work", type=Path, default=None, help="工作目录（默认临时目录）")
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--jobs-only", action="store_true", help="只测每日、每周两个完整作业（全新进程，含峰值内存），不测其余各项")
    parser.add_argument("--reuse", action="store_true", help="与 --jobs-only 同用：--work 目录里已有该规模的数据库时直接使用，不重新导入")
    parser.add_argument("--keep", action="store_true",
                        help="在工作目录保留导入后的数据库（NAME.base.db），再次运行时复制它而不重新导入（不再测导入时间）")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="tracker-bench-"))
    results = {"machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
               "scales": [], "peer": []}
    for name in filter(None, args.scales.split(",")):
        generated = generate(work / "plans", SCALES[name], args.plans)
        runs = args.runs if SCALES[name] * args.plans < 100 else max(1, min(args.runs, 3))
        label = name if args.plans == 1 else f"{name}×{args.plans}"
        row = (measure_jobs(label, generated, work, reuse=args.reuse) if args.jobs_only
               else measure_scale(label, generated, work, runs, free_port(), keep=args.keep))
        results["scales"].append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
        _save(args.out, results)  # after every scale: a failure at a larger one loses nothing measured before it
    for size in filter(None, args.peer.split(",")):
        row = compare_with_taskwarrior(int(size), work, runs=args.runs)
        results["peer"].append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
        _save(args.out, results)
    if not args.jobs_only:
        print(markdown(results))


def _save(out: Path, results: dict[str, object]) -> None:
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2), "utf-8")


if __name__ == "__main__":
    main()
