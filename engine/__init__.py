"""CLINQ billing engine.

Data flows one way: YAML terms (``rules/``, ``tariffs/``) are validated into a
:class:`~engine.catalog.Catalog`; the rule engine applies the terms in force at each event's
instant and produces effects; effects become ledger entries; documents are rendered from the
ledger.
"""
