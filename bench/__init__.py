"""The benchmark harness (`make bench`, bench/README.md) and its one-off measurement scripts.

A package so that its settings module (bench.settings) and the floor app (bench.floor) can be
named by DJANGO_SETTINGS_MODULE and INSTALLED_APPS; the production settings never name them.
"""
