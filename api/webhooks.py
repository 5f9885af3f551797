"""``/api/v1/webhooks``: billing services manage their webhook subscriptions.

A token whose role has ``webhooks:manage`` lists, adds and removes its own subscriptions: one
made by another token, or by the operator on the command line, is answered as if it did not
exist (absent from the list, 404 on DELETE, nothing changed). The signing secret is in the
answer to the POST only. A URL on a loopback or private address is refused
unless the operator allows it ($BILLING_WEBHOOKS_ALLOW_PRIVATE=1, or the Flask config key of
the same name): a client must not make the platform call into its own network.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, current_app, g

from api.common import ApiError, authorise, json_body
from engine.delivery.webhooks import (
    WebhookError,
    add_subscription,
    list_subscriptions,
    private_allowed,
    remove_subscription,
)
from web.http import get_engine, json_response

FIELDS = ("url", "events", "secret")


def webhooks_list():
    authorise("webhooks:manage")
    with get_engine().store.db.connect() as connection:
        return json_response({"webhooks": list_subscriptions(connection, token=g.token.name)})


def webhooks_add():
    authorise("webhooks:manage")
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "The body is an object with url and events.")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ApiError(
            400,
            f"Unknown field {unknown[0]!r}; a webhook has url, events and secret.",
            f"/{unknown[0]}",
        )
    allow = current_app.config.get("BILLING_WEBHOOKS_ALLOW_PRIVATE", private_allowed())
    try:
        with get_engine().store.db.begin() as connection:
            subscription, secret = add_subscription(
                connection,
                body.get("url"),
                body.get("events"),
                secret=body.get("secret"),
                created_by=f"token:{g.token.name}",
                at=datetime.now(UTC),
                allow_private=bool(allow),
                owner_token=g.token.name,
            )
    except WebhookError as refused:
        message = refused.message[0].upper() + refused.message[1:] + "."
        # A well-formed URL whose host the platform will not call is forbidden (403).
        status = 403 if refused.policy else 400
        raise ApiError(status, message, f"/{refused.field}") from None
    return json_response({**subscription, "secret": secret}, 201)


def webhooks_remove(subscription: int):
    authorise("webhooks:manage")
    with get_engine().store.db.begin() as connection:
        removed = remove_subscription(
            connection,
            subscription,
            at=datetime.now(UTC),
            actor=f"token:{g.token.name}",
            token=g.token.name,
        )
    if not removed:
        raise ApiError(404, f"There is no active webhook {subscription}.")
    return Response(status=204)
