"""``python -m load.probe MODULE [ARGS...]``: run a server with the probe inside it."""

from load.probe.in_server import main

main()
