"""Running one build under load: its database, its server (behind the probe), locust as a
subprocess, and the samples taken from outside while it runs."""
