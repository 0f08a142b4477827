"""Where a server the lab starts listens, and when it can take load: one free port and one
wait for ``/health/ready`` (or, for an app the lab knows nothing of, for any HTTP answer), for the
lab's servers and the bench's alike."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on now; the server binds it a moment later (a race the loopback
    interface of a test machine does not lose in practice)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def wait_ready(
    process: subprocess.Popen[bytes],
    url: str,
    *,
    name: str,
    timeout_s: float,
    poll_s: float = 0.2,
    log_hint: str = "",
    any_status: bool = False,
) -> None:
    """Return once GET ``url`` answers 200 (with ``any_status``: answers HTTP at all, an app
    whose routes the lab does not know). A server that exits first, or is still not ready
    after ``timeout_s``, is a RuntimeError that names it (and where its log is)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the {name} server exited with code {process.returncode} before it was ready"
                f"{log_hint}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own URL
                if answer.status == 200:
                    return
        except urllib.error.HTTPError as error:
            error.close()
            if any_status:  # 404, 401, 500: it listens and speaks HTTP
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or not ready: 503
        time.sleep(poll_s)
    raise RuntimeError(f"the {name} server was not ready in {timeout_s:g} s{log_hint}")
