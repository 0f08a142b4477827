"""Judging the samples: slopes with their confidence intervals, the kind of growth, and the
verdict that becomes the exit code."""
