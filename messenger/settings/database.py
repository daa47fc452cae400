"""The database: DATABASE_URL's PostgreSQL (through psycopg's pool), else SQLite under VAR_DIR."""

from messenger.settings.environment import VAR_DIR, database_url, env

DATABASES = {
    "default": env.db_url_config(database_url or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if not database_url:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_VENDOR = "postgresql" if "postgres" in DATABASES["default"]["ENGINE"] else "sqlite"
# The same backends, wrapped by django-prometheus: queries, errors and connections per database.
DATABASES["default"]["ENGINE"] = {
    "postgresql": "django_prometheus.db.backends.postgresql",
    "sqlite": "django_prometheus.db.backends.sqlite3",
}[DATABASE_VENDOR]
if DATABASE_VENDOR == "postgresql":
    # psycopg 3's pool: one connection per request would cost more than the request.
    DATABASES["default"].setdefault("OPTIONS", {})
    if env.bool("DATABASE_POOL", default=True):
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=1),
            "max_size": env.int("DATABASE_POOL_MAX", default=10),
            "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
else:
    DATABASES["default"].setdefault("OPTIONS", {})
    # Wait for SQLite's write lock instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default=None)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ATOMIC_REQUESTS = False  # writes are atomic in services, not per request (docs/ARCHITECTURE.md)
