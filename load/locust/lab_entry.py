"""The lab's side of a run whose users come from a locustfile of your own (``--locustfile``).

locust is given ``-f load/locust/lab_entry.py,YOUR_FILE`` and merges the two: your file brings
the users, this one the lab's hooks (the progress file, the request bound, the stop file) and,
under the lab, its warm-up shape. Your file needs nothing of the lab.
"""

from __future__ import annotations

from load.locust import lab_hooks

if lab_hooks.WARMUP_S:  # only under the lab: the web UI keeps locust's own controls
    WarmupThenSteady = lab_hooks.WarmupThenSteady
