"""Loopback benchmark of the relay against a bare sink and a bare forwarder: msg/s, peak RSS.

`python -m bench [--quick] [--seconds S] [--json]`; see `bench.cli`. The store alone:
`python -m bench.store [sqlite|postgresql]`; see `bench.store`.
"""
