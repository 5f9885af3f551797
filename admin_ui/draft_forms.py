"""The draft page's typed form: saving it writes into the draft's YAML (admin_ui/forms.py).

The form and the YAML view edit one draft and share one save (``save_draft``): the same
refusals, the same checks of the catalog, the same errors.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from admin_ui.forms import apply_form
from admin_ui.views import _draft, _engine, _file, bp, save_draft
from admin_ui.yaml_edit import EditError


@bp.post("/drafts/<int:draft_id>/form")
def draft_form(draft_id: int):
    engine = _engine()
    row = _draft(engine, draft_id)
    terms_file = _file(engine.catalog, row.file)
    try:
        text = apply_form(row.text, terms_file, request.form.to_dict(flat=False))
    except EditError as problem:
        flash(f"The form could not be saved ({problem}); use the YAML view.", "error")
        return redirect(url_for("admin.draft", draft_id=draft_id))
    return save_draft(engine, row, text)
