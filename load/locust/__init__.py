"""The locust side: the load itself and the clients that misbehave on purpose.

These modules run inside locust's process, which gevent monkey-patches whole; the rest of the
lab never imports them (it starts locust as a subprocess, load/run/locust_process.py).
"""
