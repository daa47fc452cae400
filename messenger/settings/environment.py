"""The environment values more than one concern depends on, each read once: the mode switches
(DEBUG, DATABASE_URL, REDIS_URL) and where local state lives (VAR_DIR).

Every module of this package reads its own variables through the one `env` here, never os.environ.
"""

from pathlib import Path

import environ

env = environ.Env()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
DEBUG = env.bool("DEBUG", default=False)
# The two switches of the real mode (docs/ARCHITECTURE.md); empty: the embedded mode's backends.
# The database's URL is no setting of its own (lower case): Django's debug page would show its
# password, which DATABASES hides.
database_url = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")
