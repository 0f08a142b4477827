"""The lab's hooks for a locustfile that is not the lab's own.

``leakproof soak --locustfile yours.py`` runs ``locust -f yours.py,load/locust/with_lab.py``:
locust loads both files, so your users run under the lab's warm-up shape, and the lab gets its
progress file and its stop file, without your locustfile importing anything of the lab. The
hooks are imported as ``load.locust.lab_hooks`` here as in the lab's own locustfile: a module
is imported once, so its listeners register once whichever files import it.

A shape class of your own wins (locust takes the first file's): the warm-up then is yours.
"""

from __future__ import annotations

from load.locust import lab_hooks

if lab_hooks.WARMUP_S:  # only under the lab: by hand, locust keeps its own controls
    WarmupThenSteady = lab_hooks.WarmupThenSteady
