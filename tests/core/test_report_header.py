"""The pytest header names the database the tests use, not the development one (issue 16)."""

from django.conf import settings

from tests.conftest import pytest_report_header


def test_the_header_names_the_test_database_not_the_development_one():
    (database_line,) = [line for line in pytest_report_header(None) if "database" in line]
    development = str(settings.DATABASES["default"]["NAME"])
    assert f"name={development} " not in database_line
    if settings.DATABASES["default"]["TEST"].get("NAME"):
        assert f"name={settings.DATABASES['default']['TEST']['NAME']} " in database_line
    elif settings.DATABASE_VENDOR == "sqlite":
        assert "memory" in database_line  # pytest-django's in-memory SQLite
    else:
        assert f"name=test_{development} " in database_line
