"""The OpenAPI 3.1 document of the API, generated from ``schemas/event.schema.json``.

The request bodies are the schema the engine validates with, in the flattened form
``engine.events.flat_event_schemas`` derives from it (one closed object per event type, the
form the engine's compiled validators use; a test holds it to the original). What else the
event schema says (the account id and date patterns, the instant) is read from it as well;
the schemas of the answers are in :mod:`api.openapi_schemas`. Nothing is copied by hand.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from api.common import MAX_BATCH, MONTH
from api.openapi_schemas import (
    COMPONENT_SCHEMAS,
    EVENT_EXAMPLES,
    QUOTE_DESCRIPTION,
    SECRET_PATTERN,
    URL_PATTERN,
    WEBHOOK_DELIVERY,
    WEBHOOK_EVENT_TYPES,
    request_examples,
)
from engine.events import (
    FIRST_YEAR,
    LAST_YEAR,
    PLATFORM_ONLY_TYPES,
    event_validator,
    flat_event_schemas,
)
from engine.services.documents import DEFAULT_E_INVOICE_FORMAT, E_INVOICE_FORMATS
from engine.services.invoice_list import MAX_LIMIT as INVOICE_LIST_MAX
from engine.services.invoice_list import SORTS as INVOICE_SORTS
from engine.services.invoice_list import STATUSES as INVOICE_STATUSES

EVENT_PREFIX = "event."


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(schema_ref: str, description: str = "OK") -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


BEARER_DESCRIPTION = (
    "An API token (`billing token create NAME --role billing-service|reader|finance`), sent as "
    "`Authorization: Bearer bt_...`. A reader token may be bound to accounts (`--account ID`, "
    "repeatable): it then reads those accounts only, and every route of another account "
    "(the account, its ledger, deadlines, invoice and credit-note lists, itemised bill) and "
    "every invoice or credit note of another account (JSON, PDF, XML) answers 404 with the "
    "message of one that does not exist, so a bound token learns nothing of other accounts. "
    "An unbound token reads every account. Webhook subscriptions belong to the token that "
    "made them: another token's, or the operator's, are absent from its list and 404 on DELETE."
)
NO_ACCOUNT = _error("No such account, or an account the token is not bound to (answered alike).")
NO_INVOICE = _error(
    "No such invoice, or an invoice of an account the token is not bound to (answered alike)."
)
NO_CREDIT_NOTE = _error(
    "No such credit note, or one of an account the token is not bound to (answered alike)."
)
NO_WEBHOOK = _error(
    "No active subscription with this id that this token made (another token's or the "
    "operator's is answered alike, and nothing changes)."
)
COMMON_ERRORS = {
    "400": _error("A bad or unknown query parameter, or a bad body; `field` says which."),
    "401": _error("No valid bearer token."),
    "403": _error("The token's role does not allow this."),
    "405": _error("Method not allowed."),
    "500": _error("Unexpected error; the message carries an id to look up in the log."),
}
BODY_ERRORS = {
    "400": _error("Not JSON, too deep, or not a valid event; `field` and `index` say where."),
    "413": _error("The request body is too large."),
    "415": _error("The body must be application/json."),
}
EVENT_ERRORS = {
    "403": _error(
        "The token's role does not allow this, or the event's type is one only the platform "
        "emits (`field` points at its type)."
    ),
    "409": _error(
        "The event id was used before for an event with different content; `field` points at "
        "the id (and `index` in a batch). Nothing was applied."
    ),
}
INVOICE_PARAMETER = {
    "name": "number",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{6}$"},
}
CREDIT_NOTE_PARAMETER = {
    "name": "number",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Z]{1,8}-[0-9]{4}-[0-9]{6}$"},
}
MONTH_PARAMETER = {
    "name": "month",
    "in": "query",
    "required": True,
    "schema": {"type": "string", "pattern": f"^{MONTH.pattern}$"},
}
E_INVOICE_FORMAT_PARAMETER = {
    "name": "format",
    "in": "query",
    "required": False,
    "schema": {
        "type": "string",
        "enum": list(E_INVOICE_FORMATS),
        "default": DEFAULT_E_INVOICE_FORMAT,
    },
}
PDF = {
    "description": "PDF",
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
}
XML = {
    "description": "XML",
    "content": {"application/xml": {"schema": {"type": "string"}}},
}
NO_E_INVOICE = _error("The customer data on file do not make a valid e-invoice.")
NO_ITEMISED_BILL = _error(
    "No itemised bill: not CLINQ Premium (CLINQ SD 2.5), or deactivated (AGB 5.5)."
)


@cache
def _platform_only_list() -> str:
    return "; ".join(f"`{t}` ({why})" for t, why in PLATFORM_ONLY_TYPES.items())


@cache
def _event_schema() -> dict[str, Any]:
    """``schemas/event.schema.json`` as the engine's reference validator holds it."""
    return event_validator().schema


def _from_event_schema(*keys: str) -> Any:
    """A copy of a part of the event schema, e.g. ``("$defs", "instant")``."""
    node = _event_schema()
    for key in keys:
        node = node[key]
    return copy.deepcopy(node)


def _date_schema(*keywords: str) -> dict[str, Any]:
    """The event schema's date (YYYY-MM-DD in the years it covers), with only ``keywords``."""
    date = _from_event_schema("$defs", "date")
    return {keyword: date[keyword] for keyword in keywords}


def _account_parameter() -> dict[str, Any]:
    """The ``{account}`` path segment: an account id as the event envelope has it."""
    return {
        "name": "account",
        "in": "path",
        "required": True,
        "schema": _from_event_schema("properties", "account"),
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CLINQ billing API",
            "version": "1.0.0",
            "description": (
                "Billing services send account events; the engine applies the terms in force at "
                "each event's instant. Every effect names its clause and terms version. Amounts "
                "are decimal strings in EUR. The same event id twice is applied once; the same "
                "id with different content is refused with 409 (one id, one content). A JSON "
                "object that names a key twice is refused with 400. A refused body is answered "
                "once with every fault: `message` and `field` name the first, `errors` lists all "
                "(each a JSON pointer and a sentence; in a batch with the event's index). The "
                "reference is served at /api/v1/docs; this document and it need no token. "
                "Platform-only event types, "
                "refused with 403 from every token: " + _platform_only_list() + ". `clock` "
                "stays open to billing services (as POST /api/v1/clock)."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": BEARER_DESCRIPTION}
            },
            "schemas": _component_schemas(),
        },
        "paths": _paths(),
    }


def _component_schemas() -> dict[str, Any]:
    """The event schemas generated from ``schemas/event.schema.json``, then the answers."""
    schemas: dict[str, Any] = {"event.instant": _from_event_schema("$defs", "instant")}
    for type_name, flat in flat_event_schemas().items():
        schemas[EVENT_PREFIX + type_name] = {
            "title": type_name,  # the reference names each alternative of Event so
            **copy.deepcopy(flat),
            "examples": [copy.deepcopy(EVENT_EXAMPLES[type_name])],
        }
    schemas["Event"] = {
        "description": "One account event: the envelope (id, type, account, at) and the fields "
        "of its type. Generated from schemas/event.schema.json. Instants and dates lie in the "
        f"years {FIRST_YEAR} to {LAST_YEAR}. Not accepted here (HTTP 403), because only the "
        "platform itself emits them: " + _platform_only_list() + ".",
        "oneOf": [
            {"$ref": f"#/components/schemas/{EVENT_PREFIX}{t}"}
            for t in flat_event_schemas()
            if t not in PLATFORM_ONLY_TYPES
        ],
    }
    schemas.update(copy.deepcopy(COMPONENT_SCHEMAS))
    # The clock may be limited to one account: an account id as the event envelope has it.
    schemas["ClockRequest"]["properties"]["account"] = _from_event_schema("properties", "account")
    return schemas


def _paths() -> dict[str, Any]:
    """Every path of the API, in the order the routes are registered."""
    account = _account_parameter()
    return {
        **_service_paths(),
        **_event_paths(),
        **_account_paths(account),
        **_invoice_paths(),
        **_sepa_paths(),
        **_itemised_bill_paths(account),
        **_terms_paths(),
        **_webhook_paths(),
        **_credit_note_paths(account),
    }


def _service_paths() -> dict[str, Any]:
    """/health and this document."""
    return {
        "/health": {
            "get": {
                "summary": "For load balancers: the process answers and the database is reachable",
                "security": [],
                "responses": {
                    "200": _json("Health"),
                    "400": _error("An unknown query parameter."),
                    "405": _error("Method not allowed."),
                    "503": _error("The database is not reachable."),
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document; no token needed",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "400": _error("An unknown query parameter."),
                    "405": _error("Method not allowed."),
                },
            }
        },
        "/api/v1/docs": {
            "get": {
                "summary": "This document as a browsable reference (Swagger UI, served by the "
                "platform itself); no token needed. /docs leads here",
                "security": [],
                "responses": {
                    "200": {
                        "description": "An HTML page",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                    "400": _error("An unknown query parameter."),
                    "405": _error("Method not allowed."),
                },
            }
        },
    }


def _event_paths() -> dict[str, Any]:
    """What billing services send: events, quotes, the clock."""
    return {
        "/api/v1/events": {
            "post": {
                "summary": f"Apply one event, or a batch of up to {MAX_BATCH:,} in order "
                "(all or nothing if one is malformed)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/Event"},
                                    {"$ref": "#/components/schemas/EventBatch"},
                                ]
                            },
                            "examples": request_examples(batch=True),
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The result of the event, "
                        "or `results` of the batch in order",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/Result"},
                                        {"$ref": "#/components/schemas/Results"},
                                    ]
                                }
                            }
                        },
                    },
                    **BODY_ERRORS,
                    **COMMON_ERRORS,
                    **EVENT_ERRORS,
                },
            }
        },
        "/api/v1/quote": {
            "post": {
                "summary": "The result an event would have now; nothing is stored",
                "description": QUOTE_DESCRIPTION,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/Event"},
                            "examples": request_examples(batch=False),
                        }
                    },
                },
                "responses": {
                    "200": _json("QuoteResult"),
                    **BODY_ERRORS,
                    **COMMON_ERRORS,
                    **EVENT_ERRORS,
                },
            }
        },
        "/api/v1/clock": {
            "post": {
                "summary": "Fire the deadlines due up to `until` (all accounts, or one)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ClockRequest"}
                        }
                    },
                },
                "responses": {"200": _json("Results"), **BODY_ERRORS, **COMMON_ERRORS},
            }
        },
    }


def _account_paths(account: dict[str, Any]) -> dict[str, Any]:
    """An account, its ledger, deadlines and invoices."""
    return {
        "/api/v1/accounts/{account}": {
            "get": {
                "summary": "An account: plan, balance, free minutes left, contract, "
                "pending deadlines",
                "parameters": [account],
                "responses": {
                    "200": _json("Account"),
                    "404": NO_ACCOUNT,
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/accounts/{account}/ledger": {
            "get": {
                "summary": "The account's ledger entries, oldest first, a page at a time",
                "parameters": [
                    account,
                    {
                        "name": "after",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "maximum": 2**62},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                ],
                "responses": {
                    "200": _json("LedgerPage"),
                    "400": _error("A bad query parameter."),
                    "404": NO_ACCOUNT,
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/accounts/{account}/deadlines": {
            "get": {
                "summary": "Every deadline of the account, pending and settled",
                "parameters": [account],
                "responses": {
                    "200": _json("Deadlines"),
                    "404": NO_ACCOUNT,
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/accounts/{account}/invoices": {
            "get": {
                "summary": "The account's invoices, oldest first",
                "parameters": [account],
                "responses": {
                    "200": _json("Invoices"),
                    "404": NO_ACCOUNT,
                    **COMMON_ERRORS,
                },
            }
        },
    }


def _invoice_paths() -> dict[str, Any]:
    """One invoice: JSON, PDF and e-invoice XML."""
    return {
        "/api/v1/invoices/{number}": {
            "get": {
                "summary": "One invoice with its items, VAT, credit and amount due",
                "parameters": [INVOICE_PARAMETER],
                "responses": {
                    "200": _json("Invoice"),
                    "404": NO_INVOICE,
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/invoices/{number}.pdf": {
            "get": {
                "summary": "One invoice as PDF (AGB 4.3.1), in German",
                "parameters": [INVOICE_PARAMETER],
                "responses": {"200": PDF, "404": NO_INVOICE, **COMMON_ERRORS},
            }
        },
        "/api/v1/invoices/{number}.xml": {
            "get": {
                "summary": "One invoice as a structured e-invoice (EN 16931): XRechnung 3.0 in CII "
                "(default) or UBL 2.1, or the Factur-X EN 16931 XML",
                "parameters": [
                    INVOICE_PARAMETER,
                    E_INVOICE_FORMAT_PARAMETER,
                ],
                "responses": {
                    "200": XML,
                    "400": _error("An unknown format; `field` is `format`."),
                    "404": NO_INVOICE,
                    "409": NO_E_INVOICE,
                    **COMMON_ERRORS,
                },
            }
        },
    }


def _sepa_paths() -> dict[str, Any]:
    """The SEPA direct debit file of a collection date; the list of every invoice."""
    return {
        **_invoice_list_path(),
        "/api/v1/sepa/collections": {
            "get": {
                "summary": "The SEPA direct debit file (pain.008.001.08) of a collection date "
                "(AGB 4.2.2); a finance token. The first fetch records the file and its "
                "collections; every later fetch returns the same file, and no invoice is ever in "
                "two files.",
                "parameters": [
                    {
                        "name": "date",
                        "in": "query",
                        "required": True,
                        "schema": _date_schema("type", "pattern"),
                    },
                    {
                        "name": "scheme",
                        "in": "query",
                        "required": False,
                        "schema": {"enum": ["CORE", "B2B"]},
                    },
                    {
                        "name": "created_at",
                        "in": "query",
                        "required": False,
                        "description": "When the file is made (an instant with offset); default: "
                        "the start of the last day it reaches the bank in time. Later than that "
                        "day is refused (409, the scheme's lead time).",
                        "schema": {"type": "string", "format": "date-time"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "pain.008.001.08",
                        "content": {"application/xml": {"schema": {"type": "string"}}},
                    },
                    "404": _error("No direct debits are due for collection on that date."),
                    "409": _error(
                        "Too late for the scheme's lead time, or collections came after the "
                        "date's file was recorded; `field` says which."
                    ),
                    **COMMON_ERRORS,
                },
            }
        },
    }


def _invoice_list_path() -> dict[str, Any]:
    """Every account's invoices, filtered and paged (engine/services/invoice_list.py)."""

    def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"name": name, "in": "query", "schema": schema, "description": description}

    text = {"type": "string", "pattern": "^[0-9A-Za-z][0-9A-Za-z._-]{0,31}$"}
    return {
        "/api/v1/invoices": {
            "get": {
                "summary": "Every account's invoices (a bound token: its accounts'), filtered by "
                "status, month and account, sorted, a page at a time, with the totals of all",
                "parameters": [
                    query(
                        "status",
                        {"enum": list(INVOICE_STATUSES)},
                        "open (something owed), overdue (past due, not in default), in_default "
                        "(default began, BGB § 286), paid (nothing owed), credited (a credit note "
                        "corrects it)",
                    ),
                    query(
                        "month",
                        {"type": "string", "pattern": "^20[0-9]{2}-(0[1-9]|1[0-2])$"},
                        "the month of issue, YYYY-MM",
                    ),
                    query("account", _from_event_schema("properties", "account"), "one account"),
                    query("after", text, "the last invoice number of the previous page"),
                    query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": INVOICE_LIST_MAX},
                        "invoices per page (default 100)",
                    ),
                    query(
                        "sort",
                        {"enum": [p + s for s in INVOICE_SORTS for p in ("", "-")]},
                        "the order; a leading - sorts descending (default: number)",
                    ),
                ],
                "responses": {
                    "200": _json("InvoiceList"),
                    "400": _error("A bad query parameter; `field` names it."),
                    "404": _error(
                        "Sorted by other than number, `after` names no invoice the token may read."
                    ),
                    **COMMON_ERRORS,
                },
            }
        },
    }


def _itemised_bill_paths(account: dict[str, Any]) -> dict[str, Any]:
    """The itemised bill of a month, JSON and PDF."""
    return {
        "/api/v1/accounts/{account}/evn": {
            "get": {
                "summary": "The itemised bill of a month "
                "(CLINQ Premium only, CLINQ SD 2.5; AGB 5.5)",
                "parameters": [account, MONTH_PARAMETER],
                "responses": {
                    "200": _json("ItemisedBill"),
                    "404": NO_ACCOUNT,
                    "409": NO_ITEMISED_BILL,
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/accounts/{account}/evn.pdf": {
            "get": {
                "summary": "The itemised bill of a month as PDF",
                "parameters": [account, MONTH_PARAMETER],
                "responses": {
                    "200": PDF,
                    "404": NO_ACCOUNT,
                    "409": NO_ITEMISED_BILL,
                    **COMMON_ERRORS,
                },
            }
        },
    }


def _terms_paths() -> dict[str, Any]:
    """The terms in force, and one clause's history."""
    return {
        "/api/v1/terms": {
            "get": {
                "summary": "The terms in force at an instant or date",
                "parameters": [
                    {
                        "name": "at",
                        "in": "query",
                        "required": True,
                        "description": "A date (Europe/Berlin) or an RFC 3339 instant with offset",
                        "schema": {
                            "anyOf": [
                                _date_schema("type", "format", "pattern"),
                                {"$ref": "#/components/schemas/event.instant"},
                            ]
                        },
                    }
                ],
                "responses": {
                    "200": _json("Terms"),
                    "400": _error("A missing or bad `at`."),
                    "404": _error("No terms in force then."),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/terms/{clause}": {
            "get": {
                "summary": "One clause's history, e.g. `AGB 4.2.3` (URL-encoded) or a plan id",
                "parameters": [
                    {"name": "clause", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": _json("ClauseHistory"),
                    "404": _error("No such clause."),
                    **COMMON_ERRORS,
                },
            }
        },
    }


def _webhook_paths() -> dict[str, Any]:
    """Webhook subscriptions."""
    return {
        "/api/v1/webhooks": {
            "get": {
                "summary": "The active webhook subscriptions this token made (a token with "
                "webhooks:manage, the billing-service role); never their secrets. Another "
                "token's and the operator's are not listed",
                "responses": {"200": _json("WebhookList"), **COMMON_ERRORS},
            },
            "post": {
                "summary": "Subscribe a URL to webhook event types. " + WEBHOOK_DELIVERY,
                "description": "The URL is http or https without credentials; a host on a "
                "loopback, private or link-local address is refused unless the operator allows "
                "it. Without `secret` one is generated; the answer shows it once.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["url", "events"],
                                "additionalProperties": False,
                                "properties": {
                                    "url": {
                                        "type": "string",
                                        "maxLength": 2000,
                                        "pattern": URL_PATTERN,
                                        "description": "http or https, no credentials, no "
                                        "fragment (IPv6 literal hosts are accepted as well)",
                                    },
                                    "events": {
                                        "type": "array",
                                        "minItems": 1,
                                        "items": {"enum": WEBHOOK_EVENT_TYPES},
                                    },
                                    "secret": {
                                        "type": "string",
                                        "description": "whsec_ and 24 to 64 bytes in "
                                        "base64 (Standard Webhooks)",
                                        "pattern": SECRET_PATTERN,
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json("WebhookCreated", "Subscribed; the secret is shown only now"),
                    **COMMON_ERRORS,
                    **BODY_ERRORS,
                    "403": _error(
                        "The token's role does not allow this, or the URL's host does not "
                        "resolve to public addresses only (`field`: `/url`)."
                    ),
                },
            },
        },
        "/api/v1/webhooks/{id}": {
            "delete": {
                "summary": "End a subscription this token made; its undelivered messages are "
                "cancelled",
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                ],
                "responses": {
                    "204": {"description": "Removed"},
                    "404": NO_WEBHOOK,
                    **COMMON_ERRORS,
                },
            }
        },
    }


def _credit_note_paths(account: dict[str, Any]) -> dict[str, Any]:
    """An account's credit notes, and one credit note: JSON, PDF and e-invoice XML."""
    return {
        "/api/v1/accounts/{account}/credit-notes": {
            "get": {
                "summary": "The account's credit notes (Rechnungskorrekturen), in number order",
                "parameters": [account],
                "responses": {
                    "200": _json("CreditNotes"),
                    "404": NO_ACCOUNT,
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/credit-notes/{number}": {
            "get": {
                "summary": "One credit note: amount, reason, clause and the invoice it corrects",
                "parameters": [CREDIT_NOTE_PARAMETER],
                "responses": {
                    "200": _json("CreditNote"),
                    "404": NO_CREDIT_NOTE,
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/credit-notes/{number}.pdf": {
            "get": {
                "summary": "One credit note as PDF in German (Factur-X where the customer gets "
                "e-invoices)",
                "parameters": [CREDIT_NOTE_PARAMETER],
                "responses": {
                    "200": PDF,
                    "404": NO_CREDIT_NOTE,
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/credit-notes/{number}.xml": {
            "get": {
                "summary": "One credit note as a structured e-invoice (EN 16931, type 381): "
                "XRechnung 3.0 in CII (default) or UBL 2.1 CreditNote, or the Factur-X XML",
                "parameters": [
                    CREDIT_NOTE_PARAMETER,
                    E_INVOICE_FORMAT_PARAMETER,
                ],
                "responses": {
                    "200": XML,
                    "400": _error("An unknown format; `field` is `format`."),
                    "404": NO_CREDIT_NOTE,
                    "409": NO_E_INVOICE,
                    **COMMON_ERRORS,
                },
            }
        },
    }
