"""The results as the Markdown tables of BENCHMARKS.md."""

from __future__ import annotations

from typing import Any


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| scale | counties | principal assignments | import s | daily check s (floor s, ratio) | listing --overdue s (floor s, ratio) "
        "| weekly report s | peak memory of the check MB | messages | compose+store s | deliver msg/s (floor msg/s, ratio) |",
        "|---|---:|---:|---:|---|---|---:|---:|---:|---:|---|",
    ]
    for r in results["scales"]:
        lines.append(
            f"| {r['scale']} | {r['counties']} | {r['assignments']:,} | {_import(r)} "
            f"| {r['check_s']:.3f} ({r['check_floor_s']:.3f}, {r['check_ratio']:.1f}×) "
            f"| {r['listing_s']:.3f} ({r['listing_floor_s']:.3f}, {r['listing_ratio']:.1f}×) "
            f"| {r['weekly_report_s']:.2f} | {r['peak_memory_mb']:.0f} | {r['messages']:,} | {r['compose_store_s']:.2f} "
            f"| {r['deliver_rate']:.0f} ({r['deliver_floor_rate']:.0f}, {r['deliver_ratio']:.0%}) |"
        )
    lines += ["", "| scale | whole daily job s (CPU s, peak MB) | its floor s (CPU s, peak MB), ratio wall / CPU "
              "| whole weekly job s (peak MB) | weekly mail KB | workbook kept, MB "
              "| delivery ratio per run, by wall time (floor msg/s per run) | by CPU time (pump + SMTP server) |",
              "|---|---|---|---|---:|---:|---|---|"]
    for r in results["scales"]:
        if "daily_job_s" not in r:
            continue
        kept = r.get("weekly_kept_xlsx_bytes")
        lines.append(
            f"| {r['scale']} | {r['daily_job_s']:.2f} ({_cpu(r, 'daily_job_cpu_s')}{r['daily_job_peak_mb']:.0f}) "
            f"| {_floor(r)} | {r['weekly_job_s']:.2f} "
            f"({r['weekly_job_peak_mb']:.0f}) | {r['weekly_mail_bytes'] / 1024:,.0f} | {kept / 1024 / 1024 if kept else 0:.1f} "
            f"| {', '.join(f'{x:.0%}' for x in r['deliver_ratios'])} ({', '.join(f'{x:.0f}' for x in r['deliver_floor_rates'])}) "
            f"| {', '.join(f'{x:.0%}' for x in r.get('deliver_cpu_ratios', [])) or '—'} |")
    if results.get("peer"):
        lines += ["", "| tasks | overdue (tracker / Taskwarrior) | tracker s, preloaded (cold) | Taskwarrior s | tracker faster by, preloaded (cold) |",
                  "|---:|---|---:|---:|---:|"]
        for p in results["peer"]:
            cold = f" ({p['tracker_cold_s']:.2f})" if "tracker_cold_s" in p else ""
            cold_ratio = f" ({p['cold_speedup']:.1f}×)" if "cold_speedup" in p else ""
            lines.append(f"| {p['tasks']:,} | {p['tracker_overdue']:,} / {p['taskwarrior_overdue']:,} | {p['tracker_s']:.2f}{cold} "
                         f"| {p['taskwarrior_s']:.2f} | {p['speedup']:.1f}×{cold_ratio} |")
    return "\n".join(lines) + "\n"


def _floor(r: dict[str, Any]) -> str:
    if "daily_floor_s" not in r:  # results of a round before the daily job had a floor
        return "—"
    cpu = f" / {r['daily_cpu_ratio']:.1f}×" if "daily_cpu_ratio" in r else ""
    return f"{r['daily_floor_s']:.2f} ({_cpu(r, 'daily_floor_cpu_s')}{r['daily_floor_peak_mb']:.0f}), {r['daily_ratio']:.1f}×{cpu}"


def _cpu(r: dict[str, Any], key: str) -> str:
    return f"{r[key]:.2f}, " if key in r else ""


def _import(r: dict[str, Any]) -> str:
    return "kept" if r["import_s"] is None else f"{r['import_s']:.2f}"  # --keep: a kept database, not imported again
