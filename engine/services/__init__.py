"""Issued documents and other operations every face (API, admin UI, CLI) performs alike."""
