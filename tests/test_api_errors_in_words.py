"""Errors in words (issue 29): a refused body is answered once with every fault, each a field
and a sentence; no message shows a regular expression or a Python repr of the schema."""

from __future__ import annotations

import copy
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.openapi_schemas import EVENT_EXAMPLES
from billing.wsgi import create_app
from engine.access.tokens import create_token
from engine.catalog import PROJECT_ROOT
from engine.event_checks import FORMAT_WORDS, PATTERN_WORDS
from engine.events import EventInvalid, parse_event
from tests.sample_events import ACME_OPENED

# What a regular expression or a jsonschema/fastjsonschema message looks like; no fault may.
SCHEMA_TALK = re.compile(
    r"\^\(|\\d|\[0-9\]|\$'|\{0,|\]\*|\(\?|\\u00|\\s"
    r"|does not match|is not valid under|is a required property|were unexpected"
    r"|was unexpected|Unevaluated|Additional properties|is not of type|is not one of"
    r"|must match pattern|\{'|\['"
)
ODD = [None, 0, -1, 1.5, True, "", "x", "20,50", "0.00", "+49", "2026-02-30", [], {}, ["a"]]


@pytest.fixture
def api(engine):
    client = create_app(engine=engine).test_client()
    client.headers = {
        "Authorization": f"Bearer {create_token(engine.store, 'svc', 'billing-service')}"
    }
    return client


def post(client, path, body):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers=client.headers
    )


def test_a_call_with_three_faults_gets_one_400_listing_all_three_in_words(api, engine):
    call = {
        **EVENT_EXAMPLES["call"],
        "at": "2026-11-05T10:00:00",  # no UTC offset
        "duration_s": -5,
        "colour": "blue",
    }
    del call["user"]
    response = post(api, "/api/v1/events", call)
    assert response.status_code == 400
    error = response.json["error"]
    faults = {(f["field"], f["message"]) for f in error["errors"]}
    assert faults == {
        ("/user", "is required"),
        (
            "/at",
            "must be an instant with its UTC offset, e.g. 2026-11-05T10:00:00+01:00, "
            "in the years 2000 to 2099",
        ),
        ("/duration_s", "must be a whole number from 0 to 172800"),
        (
            "/colour",
            "is not a field of a call event (its fields besides id, type, account and at: "
            "user, to, duration_s, caller_country)",
        ),
    }
    # today's message and field: the first fault, as existing clients read them
    assert (error["field"], error["message"]) == (
        error["errors"][0]["field"],
        error["errors"][0]["message"],
    )
    assert error["index"] is None
    assert engine.account("acme") is None  # nothing applied


def test_three_faults_of_an_account_opening_in_one_answer(api):
    opened = copy.deepcopy(EVENT_EXAMPLES["account.opened"])
    opened["billing_method"] = "monthly"
    opened["customer"]["address"]["postal_code"] = ""
    opened["customer"]["email"] = "buchhaltung at acme"
    response = post(api, "/api/v1/events", opened)
    assert response.status_code == 400
    assert {(f["field"], f["message"]) for f in response.json["error"]["errors"]} == {
        ("/billing_method", "must be one of: prepay, autoprepay, postpay"),
        ("/customer/address/postal_code", "must be 1 to 16 characters long"),
        (
            "/customer/email",
            "must be an e-mail address without spaces, e.g. buchhaltung@example.de",
        ),
    }


def test_a_batch_lists_the_faults_of_every_invalid_event_with_its_index(api, engine):
    good = {**EVENT_EXAMPLES["credit.topped_up"], "id": "t-good"}
    comma = {**EVENT_EXAMPLES["credit.topped_up"], "id": "t-comma", "amount": "20,50"}
    cash = {**EVENT_EXAMPLES["payment.received"], "method": "cash", "reference": ""}
    response = post(api, "/api/v1/events", {"events": [ACME_OPENED, good, comma, cash]})
    assert response.status_code == 400
    error = response.json["error"]
    assert error["message"] == (
        "Event 2: must be an amount in euros above 0.00 with a decimal point and at most two "
        "decimals, e.g. 12.50; nothing was applied."
    )
    assert (error["field"], error["index"]) == ("/events/2/amount", 2)
    assert (error["errors"][0]["index"], error["errors"][0]["field"]) == (2, "/events/2/amount")
    assert {(f["index"], f["field"], f["message"]) for f in error["errors"][1:]} == {
        (3, "/events/3/method", "must be one of: bank_transfer, direct_debit, credit_card"),
        (3, "/events/3/reference", "must be 1 to 140 characters long"),
    }
    assert engine.account("acme") is None  # all or nothing


def test_a_batch_of_many_bad_events_lists_at_most_a_hundred_faults(api):
    bad = [{**EVENT_EXAMPLES["call"], "id": f"c{i}", "duration_s": -1} for i in range(150)]
    error = post(api, "/api/v1/events", {"events": bad}).json["error"]
    assert len(error["errors"]) == 100
    assert error["errors"][-1]["field"] == "/events/99/duration_s"


def test_the_value_checks_are_listed_with_the_schema_faults():
    withdrawal = {**EVENT_EXAMPLES["withdrawal.received"], "sent_on": "2026-02-30", "by": "x"}
    with pytest.raises(EventInvalid) as refused:
        parse_event(withdrawal)
    assert {f.field for f in refused.value.faults} == {"/sent_on", "/by"}
    outage = {**EVENT_EXAMPLES["outage"], "start": "2026-11-14T25:00:00+01:00", "maintenance": 1}
    with pytest.raises(EventInvalid) as refused:
        parse_event(outage)
    assert [f.field for f in refused.value.faults] == ["/maintenance", "/start"]


def test_an_objection_names_the_invoice_or_the_month_not_both():
    both = {**EVENT_EXAMPLES["objection.received"], "month": "2026-11"}
    with pytest.raises(EventInvalid) as refused:
        parse_event(both)
    assert (refused.value.field, refused.value.message) == (
        "/month",
        "must not be given with invoice: give invoice or month",
    )
    neither = {k: v for k, v in EVENT_EXAMPLES["objection.received"].items() if k != "invoice"}
    with pytest.raises(EventInvalid) as refused:
        parse_event(neither)
    assert refused.value.message == "is required: give invoice or month, not both"


def test_a_requirement_that_depends_on_another_field_says_on_which():
    autoprepay = {**EVENT_EXAMPLES["account.opened"], "billing_method": "autoprepay"}
    with pytest.raises(EventInvalid) as refused:
        parse_event(autoprepay)
    assert (refused.value.field, refused.value.message) == (
        "/autoprepay",
        "is required when billing_method is autoprepay",
    )
    updated = {k: v for k, v in EVENT_EXAMPLES["account.updated"].items() if k != "evn"}
    with pytest.raises(EventInvalid) as refused:
        parse_event(updated)
    assert refused.value.message == (
        "An account.updated event needs at least one of its fields: customer, evn"
    )


def test_every_pattern_and_format_of_the_event_schema_has_words():
    patterns, formats = set(), set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.add(node["pattern"])
            if isinstance(node.get("format"), str):
                formats.add(node["format"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(json.loads((PROJECT_ROOT / "schemas/event.schema.json").read_text()))
    assert sorted(patterns - set(PATTERN_WORDS)) == []
    assert sorted(formats - set(FORMAT_WORDS)) == []
    for words in [*PATTERN_WORDS.values(), *FORMAT_WORDS.values()]:
        assert words.startswith("must be ") and not SCHEMA_TALK.search(words), words


def _keys(example: dict) -> list[str]:
    """The example's fields, those of its nested objects as paths (customer/address/city)."""
    keys = []
    for key, value in example.items():
        keys.append(key)
        if isinstance(value, dict):
            keys += [f"{key}/{inner}" for inner in _keys(value)]
    return keys


def _set(event: dict, path: str, value) -> None:
    *parents, last = path.split("/")
    node = event
    for parent in parents:
        node = node[parent] if isinstance(node.get(parent), dict) else {}
    if value is _GONE:
        node.pop(last, None)
    else:
        node[last] = value


_GONE = object()


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_fault_of_any_bad_event_reads_like_a_regular_expression(data):
    example = data.draw(st.sampled_from(sorted(EVENT_EXAMPLES)))
    event = copy.deepcopy(EVENT_EXAMPLES[example])
    paths = [*_keys(event), "colour", "customer/colour", "amount", "start"]
    for path in data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True)):
        _set(event, path, data.draw(st.sampled_from([*ODD, _GONE])))
    try:
        parse_event(event)
    except EventInvalid as refused:
        assert refused.faults[0] == (refused.field, refused.message)
        assert len(set(refused.faults)) == len(refused.faults)
        for field, message in refused.faults:
            assert field == "" or field.startswith("/"), field
            assert message and not SCHEMA_TALK.search(message), (event, field, message)


@pytest.mark.parametrize(
    "body",
    [
        {**EVENT_EXAMPLES["credit.topped_up"], "amount": "20,50"},
        {**EVENT_EXAMPLES["call"], "to": "0211 12345"},
        {**EVENT_EXAMPLES["mandate.granted"], "iban": "de89 3704 0044 0532 0130 00"},
        {**EVENT_EXAMPLES["direct_debit.returned"], "end_to_end_id": "Ä" * 40},
        {**EVENT_EXAMPLES["plan.changed"], "plan": "Premium!"},
        {**EVENT_EXAMPLES["objection.received"], "month": "2026-13"},
        {**EVENT_EXAMPLES["account.opened"], "area_code": "abc", "country": "de"},
        {**EVENT_EXAMPLES["misuse.detected"], "description": "a\x00b"},
        {**EVENT_EXAMPLES["activity"], "kind": "nap", "type": "activity"},
        {"id": "?", "type": "nap", "account": "", "at": "tomorrow"},
        [1, 2],
    ],
)
def test_the_api_answers_bad_bodies_in_words(api, body):
    response = post(api, "/api/v1/events", body)
    assert response.status_code == 400
    error = response.json["error"]
    assert error["errors"] and error["errors"][0]["field"] == error["field"]
    for fault in error["errors"]:
        assert not SCHEMA_TALK.search(fault["message"]), fault
    assert not SCHEMA_TALK.search(error["message"])
    quote = post(api, "/api/v1/quote", body)
    assert quote.status_code == 400
    assert quote.json["error"]["errors"] == error["errors"]
