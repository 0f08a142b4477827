"""Writing what a run found: the terminal table, report.md/report.html with their plots,
summary.json, samples.csv, and where the growth was allocated and held."""
