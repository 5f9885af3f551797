"""The terms catalog: versioned, schema-validated YAML of plans, tariffs and clauses."""

from engine.catalog.catalog import Catalog, InForce, Terms, ZoneTable
from engine.catalog.errors import CatalogError, CatalogInvalid, NotInForce
from engine.catalog.loader import PROJECT_ROOT, load_catalog, load_files
from engine.catalog.model import ParameterSpec, ParameterValue, TermsFile, Version, citation_of
from engine.core.deadlines import Period

__all__ = [
    "PROJECT_ROOT",
    "Catalog",
    "CatalogError",
    "CatalogInvalid",
    "InForce",
    "NotInForce",
    "ParameterSpec",
    "ParameterValue",
    "Period",
    "Terms",
    "TermsFile",
    "Version",
    "ZoneTable",
    "citation_of",
    "load_catalog",
    "load_files",
]
