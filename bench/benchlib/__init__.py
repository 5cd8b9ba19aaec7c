"""Side-by-side benchmarks of ferrovs-vswitchd against stock ovs-vswitchd.

The entry point is bench/run; see bench/README.md.
"""
