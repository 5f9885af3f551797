"""A JSON line that names a key twice is invalid (issue 11), also on the fast path that
counts key endings for a flat event (issue 13, round 2): a string value that looks like a
key's end only sends the line to the full check."""

from __future__ import annotations

import pytest

from engine.events import DuplicateKey, loads_json

TOPUP = '{"id":"t1","type":"credit.topped_up","account":"acme","at":"2026-11-02T10:00:00+01:00"'


@pytest.mark.parametrize(
    "line", [TOPUP + ',"amount":"1.00"}', (TOPUP + ',"amount":"1.00"}').encode()]
)
def test_a_flat_event_decodes_as_sent(line):
    assert loads_json(line)["amount"] == "1.00"


@pytest.mark.parametrize(
    "line",
    [
        # {"amount": "1.00", "amount": "900.00"} would mean 900.00: refused, naming the key
        TOPUP + ',"amount":"1.00","amount" : "900.00"}',
        (TOPUP + ',"amount":"1.00","amount":"900.00"}').encode(),
        # a value ending like a key ("x\":") adds to the count, so the full check decides
        TOPUP + ',"note":"x\\":","amount":"1.00","amount":"900.00"}',
    ],
)
def test_a_repeated_amount_is_refused_with_its_pointer(line):
    with pytest.raises(DuplicateKey) as refused:
        loads_json(line)
    assert refused.value.field == "/amount"


def test_a_value_that_looks_like_a_key_end_is_no_repeat():
    line = TOPUP + ',"amount":"1.00","note":"he said \\"yes\\": fine"}'
    assert loads_json(line)["note"] == 'he said "yes": fine'


@pytest.mark.parametrize(
    ("line", "field"),
    [
        # a nested object's keys end in quote-colons too: the count exceeds the outer keys
        (TOPUP + ',"customer":{"name":"a","name":"b"}}', "/customer/name"),
        (TOPUP + ',"documents":[{"id":"1","id":"2"}]}', "/documents/0/id"),
    ],
)
def test_a_repeat_inside_a_nested_object_is_refused(line, field):
    with pytest.raises(DuplicateKey) as refused:
        loads_json(line)
    assert refused.value.field == field


def test_a_nested_object_without_repeats_decodes():
    line = TOPUP + ',"amount":"1.00","evn":{"enabled":true,"shorten":false},"list":[]}'
    assert loads_json(line)["evn"] == {"enabled": True, "shorten": False}
