"""Helpers and fixtures shared by tests of several areas (a test module never imports another's).

Fixtures defined here reach the tests through `pytest_plugins` in tests/conftest.py; an area's
own helpers stay in that area's `helpers.py`.
"""
