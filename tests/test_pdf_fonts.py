"""Fonts parsed and subset once per process, lines broken in one pass (issue 13): every
document still embeds every glyph it prints, its text extracts as rendered, and its bytes are
those fpdf2's own ``add_font`` and ``multi_cell`` give."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import io
import re
from datetime import datetime

import fpdf
import pytest
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.fonts import TTFFont
from pypdf import PdfReader

from billing.demo import month_of_events
from engine.documents import invoice_pdf, pdf_fonts
from engine.documents.invoice_pdf import FONT, FONTS, new_document, render_invoice

EXOTIC = "Łukasz Straße-Müller Ζωή Παπαδόπουλος Дмитрий Шевченко"
PLAIN = "Plain ASCII Ltd"


@pytest.fixture(scope="module")
def monthly(tmp_path_factory):
    """Two monthly invoices of a replayed demo month (issued 1 December)."""
    from engine.engine import Engine

    path = tmp_path_factory.mktemp("pdf_fonts") / "billing.sqlite"
    engine = Engine(f"sqlite:///{path}")
    engine.handle_many(list(month_of_events("2026-11", accounts=4, calls=200, seed=4)))
    engine.advance(datetime.fromisoformat("2026-12-01T00:00:00+01:00"))
    with engine.store.unit(commit=False) as unit:
        found = unit.load_invoices([f"acct-{i:06d}" for i in range(4)])
    engine.close()
    issued = sorted((i for lst in found.values() for i in lst), key=lambda i: i.number)
    return [i for i in issued if i.kind == "monthly"][:2]


def named(invoice, name: str):
    """The invoice with the customer's name (and street) replaced."""
    detail = copy.deepcopy(invoice.detail)
    detail["customer"]["name"] = name
    detail["customer"]["address"]["street"] = f"{name.split()[-1]}straße 7"
    return dataclasses.replace(invoice, detail=detail)


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def glyphs_embedded(pdf: bytes) -> dict[str, bool]:
    """For every character the PDF's fonts map (their ToUnicode CMaps): whether the embedded
    font program has a glyph with an outline for it (or it is a space)."""
    found: dict[str, bool] = {}
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            cid_font = font["/DescendantFonts"][0].get_object()
            program = TTFont(
                io.BytesIO(cid_font["/FontDescriptor"]["/FontFile2"].get_object().get_data())
            )
            order = program.getGlyphOrder()
            gids = cid_font["/CIDToGIDMap"].get_object().get_data()
            cmap = font["/ToUnicode"].get_object().get_data().decode()
            for code, text in re.findall(r"<([0-9A-F]{4})> <([0-9A-F]{4})>", cmap):
                character = chr(int(text, 16))
                cid = int(code, 16)
                gid = gids[2 * cid] << 8 | gids[2 * cid + 1]
                glyph = program["glyf"][order[gid]]
                found[character] = gid != 0 and (character.isspace() or glyph.numberOfContours != 0)
    return found


def test_the_fpdf2_internals_the_font_cache_relies_on_are_unchanged():
    """If this fails, fpdf2 changed how it keeps or subsets fonts: check pdf_fonts.py against
    the new version before widening the fpdf2 bound in pyproject.toml."""
    assert fpdf.__version__.startswith("2.8.")
    slots = set(TTFFont.__slots__)
    assert slots == pdf_fonts.SHARED | pdf_fonts.PER_DOCUMENT | pdf_fonts.UNUSED
    source = inspect.getsource(fpdf.output.OutputProducer._add_fonts)
    for used in (
        "ftsubset.Options(notdef_outline=True, recommended_glyphs=True)",
        "subsetter = ftsubset.Subsetter(options)",
        "subsetter.populate(glyphs=glyph_names)",
        "subsetter.subset(font.ttfont)",
        "font.ttfont.getGlyphID(glyph.glyph_name)",
        "font.ttfont.save(output)",
    ):
        assert used in source, used
    assert "self.cw[ord(c)] for c in mapped_text" in inspect.getsource(TTFFont.get_text_width)


def test_two_invoices_one_after_another_each_embed_all_their_glyphs_and_extract_as_rendered(
    monthly,
):
    """A name in Polish, German, Greek and Cyrillic, then a plain ASCII one, then the first
    again: no document gets another's (smaller) subset, text extraction gives what was
    printed (umlauts and ß included), and the first renders to the same bytes both times."""
    exotic, plain = named(monthly[0], EXOTIC), named(monthly[1], PLAIN)
    first = render_invoice(exotic)
    second = render_invoice(plain)
    again = render_invoice(exotic)
    assert again == first
    for pdf, name in ((first, EXOTIC), (second, PLAIN)):
        text = text_of(pdf)
        assert name in text
        assert "Diese Rechnung enthält keinen Einzelverbindungsnachweis" in text
        embedded = glyphs_embedded(pdf)
        printed = {c for c in text if not c.isspace()}
        assert printed - set(embedded) == set(), "a printed character is not in a font"
        assert [c for c in printed if not embedded[c]] == [], "a glyph without its outline"
    assert set("ŁßΖωήДмитрийШевченко") <= set(glyphs_embedded(first))
    assert not set("ŁΖД") & set(glyphs_embedded(second)), "the ASCII invoice's subset is small"


def plain_fpdf2(monkeypatch) -> None:
    """Render with fpdf2's own add_font and multi_cell, as before issue 13."""

    def add_font(pdf, family, style, path):
        pdf.add_font(family, style, path)

    def paragraph(pdf, h, text):
        pdf.multi_cell(0, h, text, align="L", new_x="LMARGIN", new_y="NEXT")

    monkeypatch.setattr(invoice_pdf, "add_font", add_font)
    monkeypatch.setattr(invoice_pdf, "paragraph", paragraph)


def long_invoice(invoice):
    """The invoice with its items repeated so often that the page breaks after the totals,
    inside the closing paragraphs (the footer on page 2, "Zahlbar bis" on page 1)."""
    for repeat in range(2, 80):
        detail = copy.deepcopy(invoice.detail)
        detail["items"] = detail["items"] * repeat
        longer = dataclasses.replace(invoice, detail=detail)
        pages = [p.extract_text() for p in PdfReader(io.BytesIO(render_invoice(longer))).pages]
        if len(pages) == 2 and "Zahlbar bis" in pages[0] and "Geschäftsführer" in pages[1]:
            return longer
    raise AssertionError("no page break in the closing paragraphs")


def test_an_invoice_renders_to_the_bytes_fpdf2s_own_font_handling_gives(monthly, monkeypatch):
    """Also across a page break after the totals, inside the closing paragraphs."""
    invoices = [named(monthly[0], EXOTIC), monthly[1], named(monthly[1], PLAIN)]
    invoices.append(long_invoice(monthly[0]))
    cached = [render_invoice(i) for i in invoices + invoices]
    plain_fpdf2(monkeypatch)
    assert [render_invoice(i) for i in invoices + invoices] == cached


PARAGRAPH = (
    "Der Betrag von 1.234,56 EUR wird am 09.12.2026 mit der Mandatsreferenz CLINQ-000123 "
    "eingezogen. Einwendungen gegen die Höhe der Entgelte sind innerhalb von acht Wochen "
    "nach Zugang der Rechnung zu erheben (AGB 4.5.1, 4.5.3); Łódź Ζωή Дмитрий "
    "Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichenherstellungsbetrieb € §"
)
WORDS = PARAGRAPH.split(" ")


@pytest.mark.parametrize("size", [7, 8, 9, 11, 16])
@pytest.mark.parametrize("style", ["", "B"])
def test_lines_are_broken_where_fpdf2s_multi_cell_breaks_them(size, style):
    pdf = new_document("Test", "siggate GmbH", datetime(2026, 12, 1).date())
    pdf.add_page()
    pdf.set_font(FONT, style=style, size=size)
    for count in range(1, len(WORDS) + 1, 3):
        text = " ".join(WORDS[:count])
        for width in (20, 37.5, 61, 100, 190):
            expected = pdf.multi_cell(width, 5, text, align="L", dry_run=True, output="LINES")
            assert pdf_fonts.lines(pdf, text, width) == expected, (text, width)


def test_texts_with_special_characters_are_left_to_multi_cell():
    pdf = new_document("Test", "siggate GmbH", datetime(2026, 12, 1).date())
    pdf.add_page()
    pdf.set_font(FONT, size=9)
    for text in ("", " vorn", "zwei  Leerzeichen", "Zeile\nZeile", "weich\u00adtrennen", "a\xa0b"):
        assert pdf_fonts.lines(pdf, text, 100) is None
    plain = FPDF()
    plain.add_font(FONT, "", FONTS / "DejaVuSans.ttf")
    plain.add_page()
    plain.set_font(FONT, size=9)
    assert pdf_fonts.lines(plain, "Rechnung", 100) is None
    plain.fonts["dejavusans"].close()  # fpdf2 closes the file it parsed only on output
