"""The billing-service HTTP JSON API (v1): ``register_api(app)`` adds it to a Flask app."""

from api.app import register_api

__all__ = ["register_api"]
