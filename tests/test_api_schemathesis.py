"""schemathesis against /api/v1/openapi.json: no server error, no response the document denies."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from api import create_app
from api.tokens import create_token
from engine.engine import Engine

_directory = Path(tempfile.mkdtemp(prefix="billing-schemathesis-"))
_engine = Engine(f"sqlite:///{_directory / 'ledger.sqlite'}")
_secret = create_token(_engine.store, "schemathesis", "billing-service")
_engine.handle_many(
    [
        {
            "id": "o1",
            "type": "account.opened",
            "account": "acme",
            "at": "2026-11-02T09:00:00+01:00",
            "plan": "clinq",
            "customer_type": "business",
            "billing_method": "prepay",
            "country": "DE",
            "area_code": "0211",
        },
        {
            "id": "u1",
            "type": "user.added",
            "account": "acme",
            "at": "2026-11-02T09:00:00+01:00",
            "user": "anna",
        },
    ]
)
HEADERS = {"Authorization": f"Bearer {_secret}"}
app = create_app(engine=_engine)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, headers=HEADERS)


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_document(case):
    case.call_and_validate(headers=HEADERS)
