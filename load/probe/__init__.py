"""Probing a server from inside: the probe it runs (``python -m load.probe``), and the lab's side
of the conversation (attribution). The probe imports nothing of the app and, of the lab, only
the two helpers it needs to name what holds an object (chains, holders)."""
