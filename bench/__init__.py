"""Loopback benchmark: relay against a bare aiosmtpd sink, throughput and peak RSS.

`python -m bench [--quick] [--seconds S] [--json]`; see `bench.cli`.
"""
