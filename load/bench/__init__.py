"""``leakproof bench``: throughput, latency and memory of the fixed build against budgets, and
``--verdicts``: how often compare names each scenario's leak (accuracy)."""
