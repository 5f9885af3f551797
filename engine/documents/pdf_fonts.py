"""The embedded fonts of the PDFs, parsed once per process.

PDF/A needs every font embedded (``fonts/README.md``). fpdf2's ``FPDF.add_font`` parses the
TrueType file for every document and its output subsets the font again for every document,
changing the fontTools font in place; together that was two thirds of an invoice's rendering
time. fpdf2 has no API to share a parsed font between documents, so this module, the only one
that touches fpdf2's font internals, does it:

- :func:`add_font` gives a document a fresh :class:`DocumentFont`: a copy of a font parsed once
  per process, sharing what no document changes (the character map, the glyph ids) and with
  its own copies of what one does (the widths fpdf2 fills in, the used glyphs, the missing
  glyphs, the font descriptor, and its own fontTools font, read from the bytes in memory).
- The subset of a font for a set of glyph names is made once: fpdf2's output subsets through
  ``fpdf.output.ftsubset``, which :func:`install` points to :class:`_SubsetCache`. A document
  whose exact glyph set was subset before gets that subset's font program and glyph ids;
  any other set is subset by fontTools as fpdf2 does, on the document's own copy. The cache
  key is the font file's content digest, the exact glyph set and fontTools' options, so no
  document ever gets a program without a glyph it uses, and the bytes are those fpdf2 would
  write.
- Text widths (line breaking measures each line again for every character it adds) are sums
  of the font's integer widths, kept per string: the same figures as fpdf2's, from a lookup.
- :func:`paragraph` is ``multi_cell(0, h, text, align="L", new_x="LMARGIN", new_y="NEXT")``
  with the lines broken here, by fpdf2's rule and figures (a line takes characters while its
  width plus the next one's is not more than the cell's width less both cell margins; then it
  breaks at that character if it is a space, else after the line's last space, else before
  that character), in one pass instead of fpdf2's, which sums the line again per character.
  Each line is printed with ``cell``, which prints a left-aligned line as ``multi_cell`` does.

Fonts that are not a :class:`DocumentFont` (``FPDF.add_font``) are subset by fpdf2 itself.
``tests/test_pdf_fonts.py`` checks that the fpdf2 internals used here are still as assumed and
that a document's bytes are the same as with ``FPDF.add_font``.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Iterable
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import fpdf.output
from fontTools import subset as ftsubset
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont
from fpdf.line_break import BREAKING_SPACE_SYMBOLS_STR, FORM_FEED, NBSP, NEWLINE, SOFT_HYPHEN
from fpdf.util import FloatTolerance

# The attributes of fpdf2's TTFFont (fpdf2 2.8.9) and how a document's copy gets each one.
SHARED = frozenset(
    {
        "type",
        "name",
        "glyph_ids",
        "sp",
        "ss",
        "up",
        "ut",
        "ttffile",
        "fontkey",
        "emphasis",
        "scale",
        "cmap",
        "color_font",
        "palette_index",
        "is_compressed",
        "is_cff",
        "is_cid_keyed",
        "is_symbol",
        "cff_ros",
        "collection_font_number",
    }
)
PER_DOCUMENT = frozenset(
    {"i", "desc", "_hbfont", "cw", "subset", "ttfont", "missing_glyphs", "biggest_size_pt"}
)
UNUSED = frozenset({"unicode_range"})  # a slot fpdf2 2.8.9 declares and never sets
# How many subsets are kept: an invoice run uses a few dozen glyph sets per font.
SUBSETS_KEPT = 512
# How many measured strings are kept per font before the memo starts afresh.
WIDTHS_KEPT = 200_000


class FontProgram(TTFont):
    """A document's own fontTools font: serves a cached subset's program and glyph ids after
    :class:`_SubsetCache` found one for the document's glyph set."""

    digest: bytes = b""
    served: tuple[bytes, dict[str, int]] | None = None

    def save(self, file: Any, reorderTables: bool = True) -> None:
        if self.served is None:
            super().save(file, reorderTables)
        elif isinstance(file, (str, Path)):
            Path(file).write_bytes(self.served[0])
        else:
            file.write(self.served[0])

    def getGlyphID(self, glyphName: str) -> int:
        if self.served is None:
            return super().getGlyphID(glyphName)
        return self.served[1][glyphName]


class ParsedFont:
    """One TrueType file parsed by fpdf2 once, the template of every document's copy."""

    def __init__(self, path: Path, family: str, style: str) -> None:
        self.data = path.read_bytes()
        self.digest = hashlib.sha256(self.data).digest()
        self.template = TTFFont(
            FPDF(), path, f"{family.lower()}{style}", style, None, None, None, 0
        )
        if self.template.color_font is not None or self.template.is_cff:
            raise ValueError(f"{path}: only plain TrueType fonts are shared between documents")
        self.template.ttfont.close()
        self.widths: dict[str, int] = {}

    def copy_for(self, index: int) -> DocumentFont:
        """A fresh font for one document, its ``index`` in that document's fonts."""
        font = DocumentFont.__new__(DocumentFont)
        template = self.template
        for name in SHARED:
            setattr(font, name, getattr(template, name))
        font.parsed = self
        font.i = index
        font.desc = copy.copy(template.desc)
        font._hbfont = None
        font.cw = copy.copy(template.cw)
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        program = FontProgram(BytesIO(self.data), recalcTimestamp=False, lazy=True)
        program.digest = self.digest
        font.ttfont = program
        font.subset = SubsetMap(font)
        return font


class DocumentFont(TTFFont):
    """fpdf2's TrueType font of one document, copied from a :class:`ParsedFont`."""

    __slots__ = ("parsed",)

    def get_text_width(
        self, text: str, font_size_pt: float, text_shaping_params: dict[str, Any] | None
    ) -> tuple[int, float]:
        """fpdf2's width, ``sum(cw) * size * 0.001``: the integer sum is kept per string."""
        if text_shaping_params or self.is_symbol:
            return super().get_text_width(text, font_size_pt, text_shaping_params)
        if font_size_pt > self.biggest_size_pt:
            self.biggest_size_pt = font_size_pt
        widths = self.parsed.widths
        units = widths.get(text)
        if units is None:
            cw = self.cw
            head = widths.get(text[:-1])  # line breaking asks for each prefix in turn
            units = sum(cw[ord(c)] for c in text) if head is None else head + cw[ord(text[-1])]
            if len(widths) >= WIDTHS_KEPT:
                widths.clear()
            widths[text] = units
        return len(text), units * font_size_pt * 0.001


_parsed: dict[tuple[str, str, str], ParsedFont] = {}
_parsed_lock = threading.Lock()


def _parsed_font(family: str, style: str, path: Path) -> ParsedFont:
    key = (str(path), family, style)
    with _parsed_lock:
        parsed = _parsed.get(key)
        if parsed is None:
            parsed = _parsed[key] = ParsedFont(path, family, style)
    return parsed


def add_font(pdf: FPDF, family: str, style: str, path: Path) -> None:
    """What ``pdf.add_font(family, style, path)`` does, from a font parsed once per process."""
    install()
    style = "".join(sorted(style.upper()))
    parsed = _parsed_font(family, style, path)
    fontkey = f"{family.lower()}{style}"
    if fontkey in pdf.fonts:
        raise ValueError(f"font {fontkey} already added")
    pdf.fonts[fontkey] = parsed.copy_for(len(pdf.fonts) + 1)


def code_points(family: str, style: str, path: Path) -> frozenset[int]:
    """The characters the font has a glyph for (its character map), from the parsed font."""
    return frozenset(_parsed_font(family, "".join(sorted(style.upper())), path).template.cmap)


class _SubsetCache:
    """fontTools' ``Subsetter`` as fpdf2's output calls it (``populate(glyphs=...)`` then
    ``subset(font)``), which for a :class:`FontProgram` makes each exact subset once."""

    programs: ClassVar[dict[tuple, tuple[bytes, dict[str, int]]]] = {}
    lock = threading.Lock()

    def __init__(self, options: ftsubset.Options | None = None) -> None:
        self.options = options
        self.subsetter = ftsubset.Subsetter(options)
        self.glyphs: frozenset[str] | None = None

    def populate(
        self,
        glyphs: Iterable[str] = (),
        gids: Iterable[int] = (),
        unicodes: Iterable[int] = (),
        text: str = "",
    ) -> None:
        glyphs, gids, unicodes = list(glyphs), list(gids), list(unicodes)
        self.glyphs = None if gids or unicodes or text else frozenset(glyphs)
        self.subsetter.populate(glyphs=glyphs, gids=gids, unicodes=unicodes, text=text)

    def subset(self, font: TTFont) -> None:
        if not isinstance(font, FontProgram) or self.glyphs is None:
            self.subsetter.subset(font)
            return
        key = (font.digest, self.glyphs, repr(sorted(vars(self.subsetter.options).items())))
        with self.lock:
            served = self.programs.get(key)
        if served is None:
            self.subsetter.subset(font)
            program = BytesIO()
            TTFont.save(font, program)
            served = (program.getvalue(), dict(font.getReverseGlyphMap()))
            with self.lock:
                if len(self.programs) >= SUBSETS_KEPT:
                    self.programs.pop(next(iter(self.programs)))
                self.programs[key] = served
        font.served = served


def install() -> None:
    """Point fpdf2's output at :class:`_SubsetCache` (once; other fonts are not affected)."""
    if fpdf.output.ftsubset is not _SUBSET_MODULE:
        fpdf.output.ftsubset = _SUBSET_MODULE


_SUBSET_MODULE = SimpleNamespace(Options=ftsubset.Options, Subsetter=_SubsetCache)


# Characters fpdf2's line breaking treats specially; a text with one of them goes to multi_cell.
SPECIAL = frozenset(BREAKING_SPACE_SYMBOLS_STR.replace(" ", "") + NBSP + SOFT_HYPHEN + NEWLINE)
SPECIAL |= {FORM_FEED, "\r"}


def paragraph(pdf: FPDF, h: float, text: str) -> None:
    """``pdf.multi_cell(0, h, text, align="L", new_x="LMARGIN", new_y="NEXT")``, the same
    output (the lines are broken by :func:`lines`; other texts go to ``multi_cell``)."""
    width = pdf.w - pdf.r_margin - pdf.x
    broken = lines(pdf, text, width)
    if broken is None:
        pdf.multi_cell(0, h, text, align="L", new_x="LMARGIN", new_y="NEXT")
        return
    for line in broken[:-1]:
        pdf.cell(width, h, line, align="L", new_x="LEFT", new_y="NEXT")
    pdf.cell(width, h, broken[-1], align="L", new_x="LMARGIN", new_y="NEXT")


def lines(pdf: FPDF, text: str, width: float) -> list[str] | None:
    """The lines fpdf2's ``multi_cell`` (word wrap) breaks ``text`` into in a cell ``width``
    wide with the current font; None where its rule is not the plain one: a font not from
    :func:`add_font`, character spacing or stretching, text shaping, an empty text, a leading
    or double space, a line, form feed, soft hyphen or special space, a word wider than the
    cell."""
    font = pdf.current_font
    if (
        not isinstance(font, DocumentFont)
        or font.is_symbol
        or pdf.char_spacing
        or pdf.font_stretching != 100
        or pdf.text_shaping
        or not text
        or text[0] == " "
        or "  " in text
        or not SPECIAL.isdisjoint(text)
    ):
        return None
    size, k, cw = pdf.font_size_pt, pdf.k, font.cw
    limit = width - float(pdf.c_margin) - float(pdf.c_margin)
    found: list[str] = []
    start = index = units = 0
    space = -1
    while index < len(text):
        character = text[index]
        character_units = cw[ord(character)]
        line_width = units * size * 0.001 / k  # fpdf2's Fragment.get_width, as it computes it
        if FloatTolerance.greater_than(line_width + character_units * size * 0.001 / k, limit):
            if character == " ":  # the space is dropped
                found.append(text[start:index])
                start = index = index + 1
            elif space >= 0:  # back to the line's last space, which is dropped
                found.append(text[start:space])
                start = index = space + 1
            elif index > start:  # a word wider than the line: broken before the character
                found.append(text[start:index])
                start = index
            else:
                return None
            units, space = 0, -1
            continue
        if character == " ":
            space = index
        units += character_units
        index += 1
    if units:
        found.append(text[start:])
    return found or None
