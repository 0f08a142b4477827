"""The leaky twin: the fixed app with one fix swapped for its classic anti-pattern per scenario.

Nothing outside this package imports it; deleting it leaves the fixed build whole.
"""
