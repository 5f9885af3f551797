"""What the tests check of PDF/A-3b with pikepdf (no full validator such as veraPDF here).

Checked: every font of every page is embedded (a TrueType font program, ``FontFile2``, in the
descriptor of the font or of its descendant CID font); the catalog has an output intent of
subtype ``GTS_PDFA1`` with an ICC profile; the XMP metadata declare ``pdfaid:part`` 3 and
``pdfaid:conformance`` B. For a ZUGFeRD PDF also: ``factur-x.xml`` is attached as an
associated file of the document (``/AF``) with ``AFRelationship`` ``Data``.
"""

from __future__ import annotations

import io

import pikepdf


def fonts_of(pdf: pikepdf.Pdf) -> list[tuple[str, bool]]:
    """(base font name, embedded as TrueType) for every font the pages use."""
    found = []
    for page in pdf.pages:
        for font in page.Resources.get("/Font", {}).values():
            descriptors = [d.get("/FontDescriptor") for d in font.get("/DescendantFonts", [])]
            descriptors.append(font.get("/FontDescriptor"))
            embedded = any(d is not None and "/FontFile2" in d for d in descriptors)
            found.append((str(font.get("/BaseFont")), embedded))
    return found


def assert_pdf_a_3b(data: bytes, *, factur_x: bool, issued_on: str | None = None) -> None:
    """``issued_on``: the dates in the info and the XMP are the invoice's, not the clock's.
    Also the file structure PDF/A asks for: a ``%PDF-1.n`` header followed by a comment of
    four bytes above 127, a file id of two strings in the trailer, and the XMP metadata stream
    not compressed (no ``/Filter``)."""
    assert data[:7] == b"%PDF-1." and data[8:10] == b"\n%", data[:16]
    assert all(byte > 127 for byte in data[10:14]), data[:16]
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert len(pdf.trailer.ID) == 2
        assert "/Filter" not in pdf.Root.Metadata
        fonts = fonts_of(pdf)
        assert fonts, "the PDF uses no font"
        assert all(embedded for _, embedded in fonts), fonts
        assert all("DejaVuSans" in name for name, _ in fonts), fonts
        intents = pdf.Root.get("/OutputIntents")
        assert intents is not None and len(intents) >= 1
        assert intents[0].S == "/GTS_PDFA1"
        assert "/DestOutputProfile" in intents[0]  # the sRGB ICC profile
        with pdf.open_metadata() as xmp:
            assert (xmp.get("pdfaid:part"), xmp.get("pdfaid:conformance")) == ("3", "B")
            if issued_on:
                for name in ("xmp:CreateDate", "xmp:ModifyDate"):
                    assert xmp.get(name) == f"{issued_on}T00:00:00+00:00", name
        if issued_on:
            stamp = "D:" + issued_on.replace("-", "") + "000000"
            assert str(pdf.docinfo["/CreationDate"]).startswith(stamp)
            assert str(pdf.docinfo["/ModDate"]).startswith(stamp)
        attachments = dict(pdf.attachments)
        if factur_x:
            assert list(attachments) == ["factur-x.xml"]
            spec = attachments["factur-x.xml"].obj
            assert spec.AFRelationship == "/Data"
            assert [f.UF for f in pdf.Root.AF] == ["factur-x.xml"]
        else:
            assert not attachments
