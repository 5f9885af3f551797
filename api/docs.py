"""The browsable API reference at /api/v1/docs: Swagger UI from the PyPI package
flask-swagger-ui, served by the platform itself (no CDN, nothing loaded from elsewhere), over
the OpenAPI document at /api/v1/openapi.json. Neither needs a token: they describe the API,
they do not open it (every call tried from the page still needs one).

The package's own page template starts Swagger UI with an inline script, which the platform's
Content-Security-Policy forbids; this module serves a page of its own instead, with the start
script as a file, and only the package's assets it names (``ASSETS``).
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Response, redirect, request, send_from_directory

from api.common import ApiError
from api.openapi import openapi_document
from web.http import json_response

DIST = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
ASSETS = frozenset(
    {
        "swagger-ui.css",
        "index.css",
        "swagger-ui-bundle.js",
        "favicon-32x32.png",
        "favicon-16x16.png",
    }
)
# Swagger UI sets styles from script (allowed) and draws icons as data: images; it fetches
# only the document and, when a person tries a call, this API (connect-src 'self').
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

# Relative addresses: the page is /api/v1/docs, so docs/x is /api/v1/docs/x and openapi.json
# /api/v1/openapi.json, under whatever prefix the application is mounted at.
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>CLINQ billing API reference</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
<link rel="stylesheet" href="docs/index.css">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="docs/favicon-16x16.png" sizes="16x16">
</head>
<body>
<noscript><p>The reference needs JavaScript. The OpenAPI document itself is at
<a href="openapi.json">/api/v1/openapi.json</a>.</p></noscript>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/start.js"></script>
</body>
</html>
"""
# validatorUrl null: Swagger UI would otherwise ask validator.swagger.io about the document.
# queryConfigEnabled false (its default, said here): no ?url= makes the page show another.
START = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: new URL("openapi.json", window.location.href).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    queryConfigEnabled: false,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""


def docs_page() -> Response:
    """The reference: Swagger UI over /api/v1/openapi.json; no token needed."""
    response = Response(PAGE, mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


def docs_asset(name: str) -> Response:
    """A file of the page: the start script, or one of the package's ``ASSETS``."""
    if name == "start.js":
        return Response(START, mimetype="text/javascript")
    if name not in ASSETS:
        raise ApiError(404, "There is nothing at this address; the reference is /api/v1/docs.")
    return send_from_directory(DIST, name, max_age=3600)


def docs_slash() -> Response:
    """/api/v1/docs/ is the reference too (its relative addresses need the address without /)."""
    return redirect(request.script_root + "/api/v1/docs", 301)


def to_docs() -> Response:
    """/docs: where people look first."""
    return redirect(request.script_root + "/api/v1/docs", 302)


def openapi_json() -> Response:
    """The OpenAPI document of this API; public, like the reference that shows it."""
    return json_response(openapi_document())
