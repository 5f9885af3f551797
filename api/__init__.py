"""The billing-service HTTP JSON API (v1) on Flask: ``create_app()``."""

from api.app import create_app

__all__ = ["create_app"]
