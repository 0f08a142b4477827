"""The copier template's helpers (copier.yml, copier_tasks.py); never in a generated project."""
