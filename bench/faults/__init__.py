"""Fault injection under load, and a soak (issue 20): `python -m bench.faults --help`."""
