"""A draft checked as legal's *Check* shows it: valid, assessed, and its clause examples run.

The examples run against the catalog as it would be with the draft (AGB 8: a change is
published only when the examples it could change still hold).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from engine.catalog import Catalog
from engine.catalog.loader import Appended
from engine.drafting.examples import draft_examples, examples_of, run_examples
from engine.drafting.publishing import DraftCheck, validate_draft


def check_draft(
    root: Path,
    published: Mapping[str, str | Sequence[Appended]],
    file: str,
    text: str,
    *,
    decider=None,
    examples: bool = True,
) -> DraftCheck:
    """:func:`~engine.drafting.publishing.validate_draft`, then run the clause examples the
    draft could change (unless ``examples`` is false)."""
    check = validate_draft(root, published, file, text)
    if check.errors or not examples:
        return check
    terms_file = next(f for f in check.files if f.path == file)
    with_draft = Catalog(check.files, root)
    check.examples = run_examples(
        with_draft, examples=draft_examples(with_draft, terms_file), decider=decider
    )
    started = f"version {terms_file.versions[-1].effective_from.isoformat()}"
    check.retired = [e for e in examples_of(terms_file, retired=True) if e.retired_by == started]
    return check
