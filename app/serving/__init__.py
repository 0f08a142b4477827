"""Serving: the gunicorn worker (draining, recycling by requests or by memory) and its budget."""
