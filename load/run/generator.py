"""The load generator of one build: locust in one process, or locust's distributed mode (one
master, ``--locust-workers`` worker processes) when one process cannot send enough load.

Every process is the lab's child in a process group of its own (``Children``): the master is what
the run waits on and stops, and stopping the generator stops its workers too, on every path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

from load.run.config import LabConfig
from load.run.locust_process import (
    LOCUSTFILE,
    locust_command,
    remote_worker_command,
    worker_command,
)
from load.run.readiness import free_port
from load.run.servers import Child, Children
from load.run.target import ROOT

LOCUST_MASTER_PORT = 5557  # locust's own default: a worker elsewhere may leave --master-port out


@dataclass
class LoadGenerator:
    """locust for one build: the process that runs the test (alone, or the master) and the
    workers it drives."""

    main: Child
    workers: list[Child] = field(default_factory=list)

    @property
    def process(self) -> Popen[bytes]:
        return self.main.process

    def stop(self) -> None:
        """The master first (it tells its workers to quit), then any worker still there."""
        self.main.stop()
        for worker in self.workers:
            worker.stop()


def start_generator(
    children: Children,
    name: str,
    config: LabConfig,
    base_url: str,
    out: Path,
    env: dict[str, str],
    locustfiles: Sequence[Path] = (LOCUSTFILE,),
) -> LoadGenerator:
    """Start locust against ``base_url``: its logs are ``locust-<name>.log`` (and
    ``locust-<name>-worker<i>.log``), its statistics ``locust-<name>_stats.csv``."""
    csv_prefix = out / f"locust-{name}"
    if not config.distributed:
        command = locust_command(config, base_url, csv_prefix, locustfiles)
        return LoadGenerator(
            children.start(f"{name} load", command, env, out / f"locust-{name}.log")
        )
    port = config.locust_master_port or (
        LOCUST_MASTER_PORT if config.remote_locust_workers else free_port()
    )
    master = children.start(
        f"{name} load (master)",
        locust_command(config, base_url, csv_prefix, locustfiles, master_port=port),
        env,
        out / f"locust-{name}.log",
    )
    workers = [
        children.start(
            f"{name} load (worker {index})",
            worker_command(locustfiles, port),
            env,
            out / f"locust-{name}-worker{index}.log",
        )
        for index in range(1, config.locust_workers + 1)
    ]
    if config.remote_locust_workers:
        print(
            f"{name}: waiting up to {config.generator_wait_s:g} s for "
            f"{config.remote_locust_workers} locust workers from other machines; on each, in a "
            f"checkout of this project: {remote_worker_command(env, locustfiles, port, ROOT)}",
            flush=True,
        )
    return LoadGenerator(master, workers)
