"""The web application: the billing-service API under /api/v1 and the admin UI under /admin,
on one Flask app (``billing serve`` runs it under gunicorn or Granian).

The two faces never import each other; only this module puts them together.
"""

from __future__ import annotations

import os

from flask import Flask

from admin_ui import init_admin
from api import register_api
from engine.engine import Engine
from web.http import init_engine


def create_app(database_url: str | None = None, engine: Engine | None = None) -> Flask:
    """The application; ``engine`` may be given (tests), else one is made per process for
    ``database_url`` (default: ``DATABASE_URL``)."""
    app = Flask(__name__)
    init_engine(app, database_url or os.environ.get("DATABASE_URL"), engine)
    register_api(app)
    init_admin(app)
    return app
