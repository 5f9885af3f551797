"""The terms as billing services read them (``terms:read``): the clauses in force at an
instant, one clause's history, and the OpenAPI document of this API.
"""

from __future__ import annotations

from flask import request

from api.common import ApiError, authorise, current_catalog, instant_arg
from engine.catalog import NotInForce
from engine.catalog.values import value_to_json
from web.http import json_response


def terms():
    authorise("terms:read")
    at = instant_arg(request.args.get("at"), "at")
    catalog = current_catalog()
    try:
        in_force = catalog.at(at)
    except NotInForce as exc:
        raise ApiError(404, str(exc)) from None
    return json_response(
        {
            "terms_version": in_force.version,
            "date": catalog.local_date(at).isoformat(),
            "clauses": [
                {
                    "clause": item.citation,
                    "title": item.file.title,
                    "file": item.file.path,
                    "effective_from": item.effective_from.isoformat(),
                    "parameters": {
                        name: value_to_json(spec.type, item[name])
                        for name, spec in item.file.parameters.items()
                    },
                }
                for item in in_force.in_force()
            ],
        }
    )


def clause_history(clause: str):
    authorise("terms:read")
    catalog = current_catalog()
    citation = catalog.plan_citation(clause) if clause in catalog.plans else clause
    try:
        terms_file = catalog.file(citation)
    except NotInForce:
        raise ApiError(404, f"There is no clause {clause!r} (cite like 'AGB 4.2.3').") from None
    return json_response(
        {
            "clause": terms_file.citation,
            "title": terms_file.title,
            "file": terms_file.path,
            "versions": [
                {
                    "effective_from": version.effective_from.isoformat(),
                    "origin": version.origin,
                    "note": version.note,
                    "values": {
                        name: {
                            "value": value_to_json(terms_file.parameters[name].type, pv.value),
                            "source": pv.source,
                        }
                        for name, pv in version.values.items()
                    },
                }
                for version in terms_file.versions
            ],
        }
    )
