"""Serving: the gunicorn worker (draining, recycling by requests or by memory) and its budget,
the single worker of ``leakproof serve``, the accept path both share, and the admission limit."""
