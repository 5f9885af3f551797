"""schemathesis against /api/v1/openapi.json: no server error, no response the document denies."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from api.common import NOW_CONFIG
from billing.demo import sample_vat_id
from billing.wsgi import create_app
from engine.access.tokens import create_token
from engine.engine import Engine
from tests.sample_events import ACME_OPENED, ANNA_ADDED

_directory = Path(tempfile.mkdtemp(prefix="billing-schemathesis-"))
_engine = Engine(f"sqlite:///{_directory / 'ledger.sqlite'}")
_secret = create_token(_engine.store, "schemathesis", "billing-service")
_engine.handle_many([ACME_OPENED, ANNA_ADDED])
HEADERS = {"Authorization": f"Bearer {_secret}"}
app = create_app(engine=_engine)
# Every instant of the covered years is schema-valid; the API refuses those more than the
# tolerance of Platform: clock ahead of its clock (api/events.py): here the clock stands at
# the end of those years, so no generated instant lies ahead of it.
app.config[NOW_CONFIG] = lambda: datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)
# VAT ids are checked beyond their pattern (python-stdnum): generate well-formed ones.
schemathesis.openapi.format(
    "eu-vat-id", st.integers(0, 10**7 - 1).map(lambda n: sample_vat_id(n % 10**7))
)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, headers=HEADERS)


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_document(case):
    case.call_and_validate(headers=HEADERS)
