"""The report folder: summary.json, samples.csv, report.md and a self-contained report.html."""

from __future__ import annotations

import base64
import csv
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from load.report import where
from load.run.build_run import BuildRun

SAMPLE_COLUMNS = (
    "build", "t_s", "phase", "requests", "failures", "rss_mb", "uss_mb", "fds", "threads",
    "workers", "db_connections", "pool_checked_out", "tasks", "heap_mb", "gc_objects",
    "worker_anon_mb",
)  # fmt: skip
# (summary key, column title) for the tables of report.md, report.html and the terminal
TABLE_ROWS = (
    ("kind", "kind"),
    ("top_site", "top growing site"),
    ("requests", "requests"),
    ("failures", "failed requests"),
    ("requests_per_s", "requests/s"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("rss_start_mb", "RSS start MB"),
    ("rss_peak_mb", "RSS peak MB"),
    ("rss_end_mb", "RSS end MB (after gc)"),
    ("rss_slope_mb_per_10k", "RSS slope MB / 10k requests"),
    ("heap_slope_mb_per_10k", "heap slope MB / 10k requests"),
    ("retained_after_gc_mb", "held after gc MB"),
    ("peak_pool_checked_out", "pool checked out, peak"),
    ("peak_db_connections", "pg_stat_activity rows, peak"),
    ("peak_tasks", "asyncio tasks, peak"),
    ("peak_fds", "fds, peak"),
    ("peak_threads", "threads, peak"),
    ("worker_restarts", "worker restarts"),
    ("memory_recycles", "recycled by memory"),
)


def write_summary(summary: dict[str, Any], out: Path) -> Path:
    path = out / "summary.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path


def write_samples(runs: Sequence[BuildRun], out: Path) -> Path:
    path = out / "samples.csv"
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(SAMPLE_COLUMNS)
        for run in runs:
            start = (
                run.progress[0][0] if run.progress else (run.samples[0].ts if run.samples else 0)
            )
            for sample in run.samples:
                writer.writerow(
                    [
                        run.build,
                        f"{sample.ts - start:.2f}",
                        sample.phase,
                        round(sample.requests),
                        round(sample.failures),
                        sample.rss_mb,
                        _blank(sample.uss_mb),
                        _blank(sample.fds),
                        _blank(sample.threads),
                        sample.workers,
                        _blank(sample.db_connections),
                        _blank(sample.pool_checked_out),
                        _blank(sample.tasks),
                        _blank(sample.heap_mb),
                        _blank(sample.gc_objects),
                        " ".join(f"{pid}={anon}" for pid, anon in sample.worker_anon_mb.items()),
                    ]
                )
    return path


def _blank(value: object) -> object:
    return "" if value is None else value


def cell(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _markdown_table(builds: dict[str, dict[str, Any]]) -> list[str]:
    names = list(builds)
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, title in TABLE_ROWS:
        lines.append(f"| {title} | " + " | ".join(cell(builds[n].get(key)) for n in names) + " |")
    return lines


def _settings_line(settings: dict[str, Any]) -> str:
    if "url" in settings:  # a service the lab did not start
        return _remote_line(settings)
    server = settings["server"] + (
        f" x{settings['workers']} workers, max-requests {settings['max_requests']}"
        if settings["server"] == "gunicorn"
        else " (one process)"
    )
    bound = f"{settings['duration_s']:g} s" + (
        f" or {settings['requests']} requests" if settings.get("requests") else ""
    )
    if not settings.get("this_project", True):  # apps of their own: no pool, seed or scenario
        return (
            f"{settings['users']} locust users for {bound} per build; {server}; warm-up "
            f"{settings['warmup_s']:g} s; database {settings['database']}."
        )
    return (
        f"{settings['users']} locust users for {bound} per build; {server}; pool "
        f"{settings['pool_size']}+{settings['max_overflow']} per worker; scenarios: "
        f"{', '.join(settings['scenarios'])}; {settings['seed_items']} seeded items; warm-up "
        f"{settings['warmup_s']:g} s; database {settings['database']}."
    )


def _remote_line(settings: dict[str, Any]) -> str:
    bound = f"{settings['duration_s']:g} s" + (
        f" or {settings['requests']} requests" if settings.get("requests") else ""
    )
    generator = (
        f" (locust master + {settings['locust_workers']} workers)"
        if settings.get("locust_workers")
        else ""
    )
    return (
        f"{settings['users']} locust users{generator} for {bound} against {settings['url']}, a "
        f"service the lab did not start; memory from {settings['memory_gauge']} at "
        f"{settings['metrics_path']}; locustfile {settings['locustfile']}; warm-up "
        f"{settings['warmup_s']:g} s."
    )


def _not_seen(summary: dict[str, Any]) -> list[str]:
    """What a run could not see from where it stood (a service the lab did not start)."""
    lines = summary.get("not_seen") or []
    if not lines:
        return []
    return ["## Not seen from outside", "", *[f"- {line}" for line in lines], ""]


def write_markdown(summary: dict[str, Any], plots: Sequence[Path], out: Path) -> Path:
    verdict = summary["verdict"]
    outcome = verdict.get("outcome", "PASS" if verdict["ok"] else "FAIL")
    lines = [
        f"# leakproof {summary['mode']}: {outcome}",
        "",
        f"Started {summary['started_at']}. {_settings_line(summary['settings'])}",
        "",
        f"_Note: {summary['settings']['shared_cpus_note']}._",
        "",
        "## Verdict",
        "",
        f"**{verdict['headline']}**",
        "",
        *[f"- {reason}" for reason in verdict["reasons"]],
        "",
        *_not_seen(summary),
        *where.markdown(summary["builds"]),
        "## Figures",
        "",
        *_markdown_table(summary["builds"]),
        "",
        *[f"![{plot.stem}]({plot.name})" for plot in plots],
        "",
    ]
    for name, build in summary["builds"].items():
        if build["top_failures"]:
            lines += [
                f"### Failed requests, {name}",
                "",
                "| request | error | count |",
                "|---|---|---:|",
            ]
            lines += [
                f"| {f['name']} | {f['error'][:120]} | {f['occurrences']} |"
                for f in build["top_failures"]
            ]
            lines.append("")
        if build["objects_grown"]:
            lines += [f"### Objects that grew after warm-up, {name} (objgraph, after gc)", ""]
            lines += [
                f"- {o['type']}: +{o['delta']} (now {o['count']})" for o in build["objects_grown"]
            ]
            lines.append("")
    lines += [
        "Files: `summary.json` (stable names), `samples.csv` (every sample), `locust-*_stats.csv`,",
        "`server-*.log` and `locust-*.log`. How to read this report: docs/lab.md.",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def write_html(summary: dict[str, Any], plots: Sequence[Path], out: Path) -> Path:
    """One file that opens anywhere: the figures are embedded as base64 PNG."""
    verdict = summary["verdict"]
    names = list(summary["builds"])
    head = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    rows = "".join(
        f"<tr><td>{html.escape(title)}</td>"
        + "".join(f"<td>{html.escape(cell(summary['builds'][n].get(key)))}</td>" for n in names)
        + "</tr>"
        for key, title in TABLE_ROWS
    )
    images = "".join(
        f'<figure><img alt="{plot.stem}" src="data:image/png;base64,'
        f'{base64.b64encode(plot.read_bytes()).decode()}"></figure>'
        for plot in plots
    )
    reasons = "".join(f"<li>{html.escape(reason)}</li>" for reason in verdict["reasons"])
    not_seen = "".join(f"<li>{html.escape(line)}</li>" for line in summary.get("not_seen") or [])
    if not_seen:
        not_seen = f"<h2>Not seen from outside</h2><ul>{not_seen}</ul>"
    status = verdict.get("outcome", "PASS" if verdict["ok"] else "FAIL")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>leakproof {summary["mode"]}: {status}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .3em .7em; }}
td:not(:first-child) {{ text-align: right; }} img {{ max-width: 100%; }}
.PASS {{ color: #1b7837; }} .FAIL {{ color: #c51b7d; }} .INCONCLUSIVE {{ color: #b35806; }}
.note {{ color: #555; }}
</style></head><body>
<h1>leakproof {summary["mode"]}: <span class="{status}">{status}</span></h1>
<p>Started {html.escape(summary["started_at"])}.
{html.escape(_settings_line(summary["settings"]))}</p>
<p class="note">{html.escape(summary["settings"]["shared_cpus_note"])}.</p>
<h2>Verdict</h2><p><strong>{html.escape(verdict["headline"])}</strong></p><ul>{reasons}</ul>
{not_seen}
{where.html_section(summary["builds"])}
<h2>Figures</h2><table><tr><th></th>{head}</tr>{rows}</table>
{images}
</body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    return path
