"""What the API and the admin UI share on one Flask app: the engine of this process, the
URL converter for stored keys, and responses for JSON and issued documents.

The engine (and so durable-rules' host) is created on the first request in each process,
after a server forks its workers.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
from flask import Flask, Response, current_app
from werkzeug.routing import IntegerConverter

from engine.engine import Engine
from engine.services.documents import Document


class BoundedIntegerConverter(IntegerConverter):
    """``<int:...>`` in every URL of the app (the admin UI's draft ids too): ASCII digits up to
    the largest database key, so ``/admin/drafts/99999999999999999999999`` is a 404, not an
    overflow in the database driver."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def init_engine(app: Flask, database_url: str | None, engine: Engine | None) -> None:
    """Where :func:`get_engine` finds the engine: ``engine`` if given (tests), else one made
    per process for ``database_url``."""
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.config["BILLING_DATABASE_URL"] = database_url
    app.extensions["billing.engine"] = engine
    app.extensions["billing.lock"] = threading.Lock()


def get_engine() -> Engine:
    engine = current_app.extensions.get("billing.engine")
    if engine is None:
        with current_app.extensions["billing.lock"]:
            engine = current_app.extensions.get("billing.engine")
            if engine is None:
                engine = Engine(current_app.config["BILLING_DATABASE_URL"])
                current_app.extensions["billing.engine"] = engine
    return engine


def json_response(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status=status, mimetype="application/json")


def document_response(document: Document, *, attachment: bool = False) -> Response:
    """An issued document that the browser shows (``inline``) or saves (``attachment``)."""
    disposition = f'{"attachment" if attachment else "inline"}; filename="{document.filename}"'
    return Response(
        document.content,
        mimetype=document.media_type,
        headers={"Content-Disposition": disposition},
    )


def pdf_response(content: bytes, filename: str, *, attachment: bool = False) -> Response:
    """A PDF made on request (an itemised bill) as :func:`document_response` serves it."""
    return document_response(Document(content, filename, "application/pdf"), attachment=attachment)
