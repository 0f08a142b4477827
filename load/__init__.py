"""The load lab, one folder per job.

- ``cli.py``, ``options.py``, ``lab.py``: ``leakproof compare`` and ``soak``, start to end;
- ``run/``: one build under load (database, server, locust as a subprocess, sampling);
- ``probe/``: inside the server (``python -m load.probe``): heap, allocation sites, holders;
- ``judge/``: slopes with their intervals, the kind of growth, the verdict;
- ``report/``: the terminal table, report.md/html, plots, summary.json;
- ``locust/``: the load itself, run inside locust's process and imported by nothing else;
- ``bench/``: ``leakproof bench``, the fixed build against its budgets, and the lab's accuracy.
"""
