"""The options ``compare`` and ``soak`` share, and the LabConfig they make.

Every value is checked where it is parsed, with an error that says what to give instead; what
only makes sense together (``--max-memory`` with gunicorn, a warm-up shorter than the run) is
checked once the whole config is known.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from app.settings import MIN_WORKER_MEMORY_MB
from load.run.config import DEFAULT, QUICK, LabConfig, parse_scenarios, warmup_for


def scenario_list(text: str) -> tuple[str, ...] | None:
    try:
        return parse_scenarios(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


def _max_memory(text: str) -> int | str:
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < MIN_WORKER_MEMORY_MB:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not auto or a number of MB of at least {MIN_WORKER_MEMORY_MB} "
            "(an idle worker holds more)"
        )
    return int(text)


def _number_of_seconds(text: str) -> float:
    try:
        return float(text.removesuffix("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None


def _seconds(text: str) -> float:
    value = _number_of_seconds(text)
    if value < 5:
        raise argparse.ArgumentTypeError(
            f"{text!r} is too short: give at least 5 s, to leave time after warm-up"
        )
    return value


def _seconds_or_zero(text: str) -> float:
    value = _number_of_seconds(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def add_load_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="a ~30 s first look (CI adds --duration 30)"
    )
    parser.add_argument(
        "--duration",
        type=_seconds,
        help=f"seconds of load per build (default {DEFAULT.duration_s:g}, "
        f"--quick {QUICK.duration_s:g})",
    )
    parser.add_argument(
        "--requests",
        type=_positive_int,
        help="stop a build's load once this many requests are done (--duration still caps it)",
    )
    parser.add_argument(
        "--users",
        type=_positive_int,
        help=f"concurrent locust users (default {DEFAULT.users}; 4 are stream users and a probe)",
    )
    parser.add_argument(
        "--server",
        choices=["uvicorn", "gunicorn"],
        help="uvicorn: one process (default); gunicorn: --workers processes",
    )
    parser.add_argument(
        "--workers", type=_positive_int, help=f"gunicorn workers (default {DEFAULT.workers})"
    )
    parser.add_argument(
        "--max-requests",
        type=_non_negative_int,
        help="gunicorn recycles a worker after this many requests (shows the saw tooth)",
    )
    parser.add_argument(
        "--max-memory",
        type=_max_memory,
        help="gunicorn recycles a worker past this RSS in MB, draining it; auto: from "
        "--memory-limit as in a container (without --max-requests, memory alone decides)",
    )
    parser.add_argument(
        "--memory-limit",
        type=_positive_int,
        help="the container memory limit in MB that --max-memory auto shares among workers",
    )
    parser.add_argument(
        "--seed-items",
        type=_positive_int,
        help=f"items in the table during the run (default {DEFAULT.seed_items})",
    )
    parser.add_argument(
        "--item-bytes",
        type=_positive_int,
        help="pad each seeded item's description to this many bytes: a leak that keeps "
        "items grows faster (exports and pages weigh more too)",
    )
    parser.add_argument(
        "--warmup",
        type=_seconds_or_zero,
        help="seconds left out of the slope at the start (default: a quarter of --duration, "
        f"3 to 15 s; {DEFAULT.warmup_s:g} s by default, {QUICK.warmup_s:g} s with --quick)",
    )
    parser.add_argument(
        "--max-duration",
        type=_seconds,
        help="when a verdict is unclear at --duration, the load goes on in steps up to this "
        "(default 3 x --duration, or up to 6 x until 15,000 requests were served on a slow "
        "machine); then the verdict is INCONCLUSIVE (exit 3)",
    )
    parser.add_argument(
        "--no-attribution",
        action="store_true",
        help="no in-process probe: no heap window, no sites, no holders (and no tracing cost)",
    )
    parser.add_argument(
        "--memray",
        action="store_true",
        help="run the servers under memray (one capture per worker) and link its flamegraphs",
    )
    parser.add_argument(
        "--locust-workers",
        type=_positive_int,
        help="load from locust's distributed mode: a master and this many worker processes "
        "(for more load than one generator process sends; docs/lab.md)",
    )
    parser.add_argument(
        "--remote-locust-workers",
        type=_positive_int,
        help="locust workers started on other machines (the lab prints the command): the master "
        "listens on every interface and waits for them",
    )
    parser.add_argument(
        "--locust-master-port",
        type=_positive_int,
        help="the port locust's master listens on (default: a free one; 5557 with "
        "--remote-locust-workers)",
    )
    parser.add_argument("--out", type=Path, help="report folder (default reports/<timestamp>/)")


def config_from(args: argparse.Namespace) -> LabConfig:
    config = QUICK if args.quick else DEFAULT
    chosen = {
        "duration_s": args.duration,
        "requests": args.requests,
        "users": args.users,
        "server": args.server,
        "workers": args.workers,
        "max_requests": args.max_requests,
        "max_memory": args.max_memory,
        "memory_limit_mb": args.memory_limit,
        "seed_items": args.seed_items,
        "item_bytes": args.item_bytes,
        "scenarios": args.scenarios,
        "max_duration_s": args.max_duration,
        "locust_workers": args.locust_workers,
        "remote_locust_workers": args.remote_locust_workers,
        "locust_master_port": args.locust_master_port,
    }
    config = replace(config, **{key: value for key, value in chosen.items() if value is not None})
    if args.duration is not None:
        config = replace(config, warmup_s=warmup_for(args.duration))
    if args.warmup is not None:
        config = replace(config, warmup_s=args.warmup)
    config = replace(config, attribution=not args.no_attribution, memray=args.memray)
    if config.max_duration_s is not None and config.max_duration_s < config.duration_s:
        raise ValueError(
            f"--max-duration ({config.max_duration_s:g} s) is shorter than --duration "
            f"({config.duration_s:g} s); give at least the duration"
        )
    if config.warmup_s >= config.duration_s - 2:
        raise ValueError(
            f"warm-up ({config.warmup_s:g} s) leaves no time to measure in "
            f"{config.duration_s:g} s; lengthen --duration or shorten --warmup"
        )
    if config.locust_master_port is not None and not config.distributed:
        raise ValueError(
            "--locust-master-port is for locust's master: add --locust-workers N or "
            "--remote-locust-workers N"
        )
    if config.max_memory is not None and config.server != "gunicorn":
        raise ValueError("--max-memory recycles gunicorn workers: add --server gunicorn")
    if (config.max_memory == "auto") != (config.memory_limit_mb is not None):
        raise ValueError("--max-memory auto needs --memory-limit MB (and only it uses one)")
    out = args.out or Path("reports") / datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    return replace(config, out=out)
