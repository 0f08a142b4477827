"""The report's "Where it grows": per build, the kind, the allocating lines and the holders.

Shown for a build that grows; for a flat build it says so and shows no site, because what a
tracing window holds when it closes (requests in flight, a bounded cache's turnover) is not growth.
"""

from __future__ import annotations

import html
from typing import Any

# what to read next in docs/leaks.md, by kind
READ_NEXT = {
    "object-leak": "docs/leaks.md: the scenario whose holder matches; the fix keeps it bounded",
    "resource-leak": "docs/leaks.md: unclosed-session, engine-per-request, orphan-tasks, "
    "aborted-stream, stream-holds-session (what each resource's growth means)",
    "allocator-retention": "docs/leaks.md#allocator-retention: stream instead of building, "
    "MALLOC_ARENA_MAX, jemalloc",
    "memory-growth": "run again without --no-attribution to tell an object leak from "
    "allocator retention",
    "inconclusive": "docs/lab.md: run longer (--duration, --max-duration)",
    "peak-memory": "docs/leaks.md: unstreamed-export (stream rows instead of building them)",
}


def callers(site: dict[str, Any], count: int = 3) -> list[str]:
    """The frames that called the blamed line (the traceback runs newest first)."""
    frames: list[str] = site["traceback"]
    here = f"{site['file']}:{site['line']}"
    start = frames.index(here) + 1 if here in frames else 1
    return frames[start : start + count]


def top_site(build: dict[str, Any]) -> str | None:
    sites = build.get("leak_sites") or []
    return f"{sites[0]['file']}:{sites[0]['line']}" if sites else None


def markdown(builds: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["## Where it grows", ""]
    for name, build in builds.items():
        kind = build.get("kind", "n/a")
        lines += [f"### {name}: {kind}", ""]
        for reason in build.get("kind_reasons") or []:
            lines.append(f"- {reason}")
        if kind == "flat":
            lines += ["- nothing grows: no site to show", *_flamegraph_lines(build), ""]
            continue
        sites = build.get("leak_sites") or []
        if sites:
            lines += [
                "",
                "| allocated at | MB held | blocks | called from |",
                "|---|---:|---:|---|",
            ]
            for site in sites:
                caller = " < ".join(callers(site))
                lines.append(
                    f"| `{site['file']}:{site['line']}` | {site['growth_mb']:.3f} "
                    f"| {site['count']} | {caller} |"
                )
        types = build.get("growing_types") or []
        if types:
            lines += ["", "| type | grew by | held by | written at |", "|---|---:|---|---|"]
            for grown in types:
                written = ", ".join(f"`{site}`" for site in grown.get("written_at") or [])
                lines.append(
                    f"| `{grown['type']}` | {grown['growth']} | `{grown['held_by'] or '-'}` "
                    f"| {written or '-'} |"
                )
        read_next = build.get("read_next") or READ_NEXT.get(kind)
        if read_next:
            lines += ["", f"Read next: {read_next}."]
        cost = build.get("tracing_cost")
        if cost:
            lines += [
                "",
                f"The tracing window ({cost['window_s']:g} s, {cost['share_of_run']:.0%} of the "
                f"load) served {cost['window_rps']:g} requests/s against {cost['measured_rps']:g} "
                f"before it: tracemalloc's cost while it runs. The flat build is never traced.",
            ]
        lines += [*_flamegraph_lines(build), ""]
    return lines


def html_section(builds: dict[str, dict[str, Any]]) -> str:
    parts = ["<h2>Where it grows</h2>"]
    for name, build in builds.items():
        kind = build.get("kind", "n/a")
        parts.append(f"<h3>{html.escape(name)}: {html.escape(kind)}</h3><ul>")
        parts += [f"<li>{html.escape(r)}</li>" for r in build.get("kind_reasons") or []]
        if kind == "flat":
            parts.append("<li>nothing grows: no site to show</li></ul>" + _flamegraph_html(build))
            continue
        parts.append("</ul>")
        sites = build.get("leak_sites") or []
        if sites:
            parts.append("<table><tr><th>allocated at</th><th>MB held</th><th>blocks</th>"
                         "<th>traceback (newest first)</th></tr>")  # fmt: skip
            for site in sites:
                parts.append(
                    f"<tr><td><code>{html.escape(site['file'])}:{site['line']}</code></td>"
                    f"<td>{site['growth_mb']:.3f}</td><td>{site['count']}</td>"
                    f"<td><code>{html.escape(' < '.join(site['traceback'][:6]))}</code></td></tr>"
                )
            parts.append("</table>")
        types = build.get("growing_types") or []
        if types:
            parts.append(
                "<table><tr><th>type</th><th>grew by</th><th>held by</th><th>written at</th></tr>"
            )
            for grown in types:
                written = ", ".join(grown.get("written_at") or []) or "-"
                parts.append(
                    f"<tr><td><code>{html.escape(grown['type'])}</code></td>"
                    f"<td>{grown['growth']}</td>"
                    f"<td><code>{html.escape(grown['held_by'] or '-')}</code></td>"
                    f"<td><code>{html.escape(written)}</code></td></tr>"
                )
            parts.append("</table>")
        read_next = build.get("read_next") or READ_NEXT.get(kind)
        if read_next:
            parts.append(f"<p>Read next: {html.escape(read_next)}.</p>")
        parts.append(_flamegraph_html(build))
    return "\n".join(parts)


def _flamegraph_lines(build: dict[str, Any]) -> list[str]:
    pages = build.get("memray_flamegraphs") or []
    if not pages:
        return []
    links = ", ".join(f"[{page}]({page})" for page in pages)
    return ["", f"memray flamegraphs (native frames too): {links}"]


def _flamegraph_html(build: dict[str, Any]) -> str:
    pages = build.get("memray_flamegraphs") or []
    if not pages:
        return ""
    links = ", ".join(f'<a href="{html.escape(p)}">{html.escape(p)}</a>' for p in pages)
    return f"<p>memray flamegraphs (native frames too): {links}</p>"
