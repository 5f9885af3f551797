"""The browsable API reference (issue 29): /api/v1/docs and /api/v1/openapi.json without a
token, served by the platform itself (Swagger UI from flask-swagger-ui, no CDN), every event
type with its fields described and a valid example, and quotes answered ``quoted``."""

from __future__ import annotations

import json
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from api.common import NOW_CONFIG
from api.docs import ASSETS, DIST, PAGE, START
from api.openapi import openapi_document
from api.openapi_schemas import EVENT_EXAMPLES
from billing.wsgi import create_app
from engine.access.tokens import create_token
from engine.engine import Engine
from engine.events import PLATFORM_ONLY_TYPES, flat_event_schemas, parse_event
from tests.browser import browser_page, chromium, require_chromium, serving
from tests.sample_events import ACME_OPENED

ENVELOPE = ("id", "type", "account", "at")
LATER = datetime(2027, 2, 1, tzinfo=UTC)  # after every example


@pytest.fixture(scope="module")
def app():
    directory = Path(tempfile.mkdtemp(prefix="billing-api-docs-"))
    engine = Engine(f"sqlite:///{directory / 'ledger.sqlite'}")
    engine.handle(ACME_OPENED)
    app = create_app(engine=engine)
    app.config[NOW_CONFIG] = lambda: LATER
    return app


def test_the_reference_and_the_document_need_no_token(app):
    client = app.test_client()
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    for name in [*ASSETS, "start.js"]:
        with client.get(f"/api/v1/docs/{name}") as asset:
            assert (asset.status_code, bool(asset.data)) == (200, True), name
    assert client.get("/api/v1/docs/oauth2-redirect.html").status_code == 404  # not named
    assert client.get("/api/v1/docs/..%2fLICENSE").status_code == 404
    document = client.get("/api/v1/openapi.json")
    assert document.status_code == 200
    assert document.json == openapi_document()
    assert document.json["paths"]["/api/v1/openapi.json"]["get"]["security"] == []
    assert document.json["paths"]["/api/v1/docs"]["get"]["security"] == []
    assert client.get("/docs").headers["Location"].endswith("/api/v1/docs")
    assert client.get("/api/v1/docs/").headers["Location"].endswith("/api/v1/docs")
    # everything else still needs one
    assert client.get("/api/v1/accounts/acme").status_code == 401


def test_the_page_names_only_its_own_files_and_the_styles_load_nothing():
    addresses = re.findall(r'(?:src|href)="([^"]+)"', PAGE)
    assert addresses and all(not urlsplit(a).scheme and not a.startswith("/") for a in addresses)
    assert "http" not in START and "validatorUrl: null" in START
    for css in ("swagger-ui.css", "index.css"):
        urls = re.findall(r"url\(([^)]*)\)", (DIST / css).read_text(encoding="utf-8"))
        assert all(u.strip("\"'").startswith("data:") for u in urls), css


def _undescribed(schema: dict, path: str) -> list[str]:
    missing = []
    for name, field in schema.get("properties", {}).items():
        if not field.get("description"):
            missing.append(f"{path}/{name}")
        if field.get("type") == "object":
            missing += _undescribed(field, f"{path}/{name}")
    return missing


def test_every_event_type_has_its_fields_described_and_a_valid_example():
    schemas = openapi_document()["components"]["schemas"]
    assert set(EVENT_EXAMPLES) == set(flat_event_schemas())
    for type_name in flat_event_schemas():
        schema = schemas[f"event.{type_name}"]
        assert schema.get("description"), type_name
        assert _undescribed(schema, type_name) == []
        [example] = schema["examples"]
        assert example["type"] == type_name
        assert set(example) <= set(schema["properties"])
        # every field of the type but the alternatives (objection: invoice or month) is shown
        own = set(schema["properties"]) - set(ENVELOPE)
        assert own & set(example) or not own or type_name in ("account.updated",), type_name
        event = parse_event(example)
        assert event.type == type_name


def test_the_examples_are_accepted_by_the_api_in_order(engine):
    app = create_app(engine=engine)
    app.config[NOW_CONFIG] = lambda: LATER  # the examples' instants lie in the past
    client = app.test_client()
    headers = {"Authorization": f"Bearer {create_token(engine.store, 'svc', 'billing-service')}"}
    examples = sorted(
        (e for t, e in EVENT_EXAMPLES.items() if t not in PLATFORM_ONLY_TYPES),
        key=lambda e: e["at"],
    )
    statuses = {}
    for example in examples:
        response = client.post(
            "/api/v1/events",
            data=json.dumps(example),
            content_type="application/json",
            headers=headers,
        )
        assert response.status_code == 200, (example["type"], response.json)
        statuses[example["type"]] = response.json["status"]
    # valid events all; those the terms refuse in this order are refused for the terms, not form
    assert set(statuses.values()) <= {"applied", "rejected"}
    assert statuses["account.opened"] == statuses["call"] == "applied"


def test_a_quote_answers_quoted_and_stores_nothing(app):
    client = app.test_client()
    engine = app.extensions["billing.engine"]
    headers = {"Authorization": f"Bearer {create_token(engine.store, 'quote', 'billing-service')}"}
    topup = {**EVENT_EXAMPLES["credit.topped_up"], "id": "quote-topup"}
    quoted = client.post(
        "/api/v1/quote", data=json.dumps(topup), content_type="application/json", headers=headers
    )
    assert quoted.status_code == 200
    assert quoted.json["status"] == "quoted"
    assert [e["amount"] for e in quoted.json["effects"]] == ["50.00"]
    assert engine.account("acme")["balance"] == "0.00"
    document = openapi_document()
    answer = document["paths"]["/api/v1/quote"]["post"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/QuoteResult")
    assert (
        "quoted" in document["components"]["schemas"]["QuoteResult"]["properties"]["status"]["enum"]
    )


@pytest.fixture(scope="module")
def server(app):
    require_chromium()
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as browser:
        yield browser


@pytest.mark.browser
def test_the_reference_renders_in_chromium_with_every_other_host_blocked(browser, server, request):
    elsewhere, problems = [], []

    def only_the_server(route):
        if route.request.url.startswith(server + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    with browser_page(browser, server, request) as page:
        page.route("**/*", only_the_server)
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto("/api/v1/docs")
        page.wait_for_selector("text=CLINQ billing API")
        events = page.locator(".opblock-summary-path[data-path='/api/v1/events']")
        events.first.click()
        page.wait_for_selector("text=Request body")
        # the examples of the request body, one per event type a billing service may send
        choices = page.locator(".examples-select select").first
        assert "call" in choices.inner_text(), choices.inner_text()
        choices.select_option("call")
        page.wait_for_selector("text=+4921112345678")
        assert page.locator(".opblock-summary-path[data-path='/api/v1/quote']").count() == 1
    assert elsewhere == []
    assert problems == []
