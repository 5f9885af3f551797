"""The admin UI: browse the catalog, edit drafts, publish under AGB 8, read outbox and audit.

Product managers draft plans and tariffs; legal drafts anything and publishes; viewers read.
Every refusal says why. Every form carries a CSRF token; every change is in the audit log.
The list pages (catalog, drafts, accounts, outbox, audit log) are in admin_ui/lists.py.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import insert, select, update
from werkzeug.exceptions import Conflict, NotFound

import admin_ui.security as security
from admin_ui.forms import (
    form_fields,
    known_elements,
    place_errors,
    plain_words,
    read_draft,
    without_notes,
)
from engine.access.people import Person, check_login, current, end_sessions
from engine.catalog import PROJECT_ROOT, Catalog, CatalogInvalid, NotInForce, conformance
from engine.catalog.coverage import source_text
from engine.contract.publications import publication_versions, published_texts
from engine.documents import itemised_bill_filename
from engine.documents.itemised_bill import (
    ItemisedBillRefused,
    itemised_bill,
    render_itemised_bill,
)
from engine.drafting import publication_preview
from engine.drafting.draft_checks import check_draft
from engine.drafting.examples import examples_of, present, run_examples
from engine.drafting.publishing import (
    GROUNDS_OF_8_1,
    DraftCheck,
    assess,
    draft_refusal,
    earliest_effective,
)
from engine.drafting.terms_publishing import publish_version
from engine.ledger import audit
from engine.ledger.tables import drafts
from engine.services import back_office, documents, mail_delivery, signatures
from web.http import document_response, get_engine, pdf_response

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
)
csrf = CSRFProtect()


def init_admin(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    security.configure(app)  # cookie flags, security headers, the login limiter
    if not app.secret_key:
        app.secret_key = _secret_key()
    csrf.init_app(app)
    app.register_blueprint(bp)
    security.throttle_login(app, "admin.login")


def _secret_key() -> str:
    """$BILLING_SECRET_KEY, else a key kept in var/secret_key (shared by the workers)."""
    configured = os.environ.get("BILLING_SECRET_KEY")
    if configured:
        return configured
    path = PROJECT_ROOT / "var" / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _engine():

    engine = get_engine()
    with engine.store.unit(commit=False) as unit:
        engine.refresh_catalog(unit)
    return engine


def _now() -> datetime:
    clock = current_app.config.get("BILLING_NOW")
    return clock() if clock else datetime.now(UTC)


def _person() -> Person:
    return g.person


@bp.before_request
def guard():
    if request.endpoint == "admin.static":
        return None
    if request.method == "POST":
        csrf.protect()
    g.person = None
    if "email" in session:
        with _engine().store.db.connect() as connection:
            g.person = current(connection, session["email"], session.get("epoch"))
        if g.person is None:
            # Logged out elsewhere, disabled, deleted, or a new role or password: ended.
            session.clear()
            if request.endpoint != "admin.login":
                flash("Your session has ended; please log in again.", "error")
    if request.endpoint != "admin.login" and g.person is None:
        return redirect(url_for("admin.login", next=request.path))
    return None


@bp.app_context_processor
def context():
    return {"person": g.get("person")}


@bp.errorhandler(429)
def too_many_logins(error):
    flash(
        "Too many failed logins for this e-mail address or from this address "
        f"({error.description}); please wait and try again.",
        "error",
    )
    return render_template("login.html"), 429


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        engine = _engine()
        email = request.form.get("email", "").strip()
        with engine.store.db.begin() as connection:
            person = check_login(connection, email, request.form.get("password", ""))
            if person:
                audit.record(connection, person.email, "login", at=_now())
        if person is None:
            flash("Wrong e-mail or password.", "error")
            return render_template("login.html"), 401
        session.clear()
        session["email"], session["epoch"] = person.email, person.session_epoch
        target = request.args.get("next", "")
        # Finance lands on its dashboard (issue 28); everyone else on the catalog.
        home = url_for("admin.dashboard" if person.role == "finance" else "admin.index")
        return redirect(target if target.startswith("/admin") else home)
    return render_template("login.html")


@bp.post("/logout")
def logout():
    """Ends every session of the person, not only this browser's."""
    with _engine().store.db.begin() as connection:
        end_sessions(connection, g.person.email)
        audit.record(connection, g.person.email, "logout", at=_now())
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("admin.login"))


@bp.get("/files/<path:file>")
def file_view(file: str):
    engine = _engine()
    terms_file = _file(engine.catalog, file)
    text = source_text(engine.catalog.root / "docs" / "source-documents", terms_file.citation)
    examples = examples_of(terms_file, retired=True)
    current = [e for e in examples if not e.retired_by]
    outcomes = {
        id(o.example): o
        for o in run_examples(engine.catalog, examples=current, decider=engine.decider)
    }
    return render_template(
        "file.html",
        file=terms_file,
        source=text,
        may_draft=_person().may_draft(terms_file.kind),
        examples=[(present(e), outcomes.get(id(e))) for e in examples],
    )


@bp.post("/drafts")
def new_draft():
    engine = _engine()
    file = request.form.get("file", "")
    terms_file = _file(engine.catalog, file)
    person = _person()
    if not person.may_draft(terms_file.kind):
        flash(
            f"A {person.role} may not draft changes of {terms_file.citation}: "
            "product managers draft plans and tariffs, legal drafts clauses.",
            "error",
        )
        return redirect(url_for("admin.file_view", file=file))
    with engine.store.db.begin() as connection:
        text = _latest_version_text(engine.catalog.root, published_texts(connection), file)
        first = earliest_effective(engine.catalog, "AGB 8.1", engine.catalog.local_date(_now()))
        text = "\n".join([f"effective_from: {first.isoformat()}", *text.splitlines()[1:]]) + "\n"
        text = without_notes(text)  # the old version's notes do not belong to the new one
        draft_id = connection.execute(
            insert(drafts).returning(drafts.c.id),
            [
                {
                    "file": file,
                    "author": person.email,
                    "text": text,
                    "status": "draft",
                    "updated_at": _now().isoformat(timespec="seconds"),
                }
            ],
        ).scalar_one()
        audit.record(
            connection, person.email, "draft_created", at=_now(), draft=draft_id, file=file
        )
    return redirect(url_for("admin.draft", draft_id=draft_id))


@bp.route("/drafts/<int:draft_id>", methods=["GET", "POST"])
def draft(draft_id: int):
    engine = _engine()
    row = _draft(engine, draft_id)
    text = row.text
    if request.method == "POST":
        text = request.form.get("text", "").replace("\r\n", "\n")
        return save_draft(engine, row, text)
    return _render_draft(engine, row, text)


def save_draft(engine, row, text: str):
    """Store a draft's new text (from the YAML view or the form) and show its check.

    Text the YAML reader refuses is not stored; ordinary faults are, and shown at their lines
    and fields. Only a draft without faults gets the success message (no banner beside errors).
    """
    if row.status != "draft":
        flash("This draft was published; published versions never change.", "error")
        return redirect(url_for("admin.draft", draft_id=row.id))
    if not _person().may_draft(_file(engine.catalog, row.file).kind):
        flash(f"A {_person().role} may not change this draft.", "error")
        return redirect(url_for("admin.draft", draft_id=row.id))
    refused = draft_refusal(text)
    if refused:
        flash("The draft was not saved: fix the errors shown.", "error")
        too_large = refused[0]["line"] is None
        shown = row.text if too_large else text
        return _render_draft(engine, row, shown, DraftCheck(errors=refused)), (
            413 if too_large else 400
        )
    with engine.store.db.begin() as connection:
        connection.execute(
            update(drafts)
            .where(drafts.c.id == row.id)
            .values(text=text, updated_at=_now().isoformat(timespec="seconds"))
        )
        audit.record(
            connection, _person().email, "draft_saved", at=_now(), draft=row.id, file=row.file
        )
    return _render_draft(engine, row, text, saved=True)


@bp.post("/drafts/<int:draft_id>/publish")
def publish_draft(draft_id: int):
    engine = _engine()
    row = _draft(engine, draft_id)
    person = _person()
    if not person.may_publish:
        flash(
            "Only legal publishes changes of the terms (AGB 8); ask legal to review this draft.",
            "error",
        )
        return _render_draft(engine, row, row.text), 403
    if row.status != "draft":
        flash("This draft was published already.", "error")
        return redirect(url_for("admin.draft", draft_id=draft_id))
    reason = request.form.get("reason", "")
    ground = request.form.get("ground") or None

    def mark_published(connection, _publication: int) -> None:
        connection.execute(update(drafts).where(drafts.c.id == draft_id).values(status="published"))

    # the one publishing service that `billing terms publish` calls too
    done = publish_version(
        engine,
        _file(engine.catalog, row.file),
        row.text,
        actor=person.email,
        notified_at=_now(),
        reason=reason,
        ground=ground,
        also=mark_published,
    )
    if done.refused:
        for problem in done.problems:
            flash(problem, "error")
        checked = not done.check.errors and not done.check.broken_examples
        shown = {"reason": reason, "ground": ground} if checked else {}
        return _render_draft(engine, row, row.text, done.check, **shown), 400
    assessment, publication_id = done.check.assessment, done.publication
    flash(
        f"Published {assessment.citation} from {assessment.effective_from} "
        f"(publication {publication_id}); {letters_said(engine, publication_id)}.",
        "info",
    )
    return redirect(url_for("admin.outbox_view", publication=publication_id))


def letters_said(engine, publication: int) -> str:
    """What became of a publication's letters (engine/services/mail_delivery.py)."""
    return mail_delivery.publication_said(engine.store, publication)


@bp.get("/diff")
def diff():
    catalog = _engine().catalog
    terms_file = _file(catalog, request.args.get("file", ""))
    by_date = {v.effective_from.isoformat(): v for v in terms_file.versions}
    first, second = request.args.get("a"), request.args.get("b")
    if first not in by_date or second not in by_date:
        flash("Choose two versions of the file.", "error")
        return redirect(url_for("admin.file_view", file=terms_file.path))
    assessment = assess(terms_file, by_date[first], by_date[second])
    return render_template("diff.html", file=terms_file, a=first, b=second, assessment=assessment)


@bp.get("/accounts/<account>")
def account_view(account: str):
    """The customer page: master data, contract, balance and open items, invoices and credit
    notes, payments and returns, SEPA, dunning and blocking with the deadlines ahead, events
    (engine/services/back_office.py customer_overview)."""
    engine = _engine()
    shown = engine.account(account)
    if shown is None:
        raise NotFound(f"There is no account {account!r}.")
    today = engine.catalog.local_date(_now())
    with engine.store.db.connect() as connection:
        overview = back_office.customer_overview(connection, account, today)
    found = overview["invoices"] if overview else []
    months = sorted({i.period for i in found if i.period}, reverse=True)
    premium = engine.catalog.at(_now()).plan(shown["plan"])["itemised_bill"]
    # AGB 4.3.2: unsigned invoices of customers entitled to deduct input tax, for the operator.
    unsigned = signatures.unsigned_invoices(engine.store, engine.catalog, [i.number for i in found])
    return render_template(
        "account.html",
        account=shown,
        invoices=found,
        unsigned=unsigned,
        months=months,
        premium=premium,
        o=overview,
        today=today.isoformat(),
    )


@bp.get("/invoices/<number>.pdf")
def invoice_download(number: str):
    engine = _engine()
    return document_response(
        served(documents.invoice_pdf, engine.store, number, engine.catalog), attachment=True
    )


@bp.get("/invoices/<number>.xml")
def invoice_xml_download(number: str):
    """The invoice as XRechnung 3.0 (CII), for business customers' e-invoicing, as archived."""
    engine = _engine()
    xml = documents.DEFAULT_E_INVOICE_FORMAT
    return document_response(
        served(documents.invoice_xml, engine.store, number, xml, engine.catalog), attachment=True
    )


def served(service, store, number: str, *args):
    """A document service's answer; the error page for a document never issued (404) or not
    available in the form asked for (409)."""
    try:
        return service(store, number, *args)
    except documents.DocumentNotFound as missing:
        raise NotFound(f"There is no {missing.kind} {number!r}.") from None
    except documents.DocumentUnavailable as refused:
        raise Conflict(f"No e-invoice for {refused.kind} {number}: {refused.reason}.") from None


@bp.get("/accounts/<account>/evn.pdf")
def itemised_bill_download(account: str):
    month = request.args.get("month", "")
    try:
        bill = itemised_bill(_engine(), account, month)
    except (ItemisedBillRefused, ValueError, NotInForce) as refusal:
        flash(f"No itemised bill: {refusal}", "error")
        return redirect(url_for("admin.account_view", account=account))
    if bill is None:
        raise NotFound(f"There is no account {account!r}.")
    filename = itemised_bill_filename(account, month)
    return pdf_response(render_itemised_bill(bill), filename, attachment=True)


@bp.get("/conformance")
def conformance_view():
    """Where clauses differ from the statutes they must satisfy (rules/conformance.yaml)."""
    catalog = _engine().catalog
    day = catalog.local_date(_now())
    asked = request.args.get("at", "")
    if asked:
        try:
            day = date.fromisoformat(asked)
        except ValueError:
            flash(f"{asked!r} is not a date (YYYY-MM-DD); showing {day.isoformat()}.", "error")
    warnings, terms_version, problems = [], None, []
    try:
        comparisons = conformance.load_comparisons(catalog)
        terms = catalog.at(day)
        warnings, terms_version = conformance.check(terms, comparisons), terms.version
    except CatalogInvalid as exc:
        problems = [str(error) for error in exc.errors]
    except NotInForce as exc:
        problems = [str(exc)]
    paths = {f.citation: f.path for f in catalog.files}
    rows = [(w, paths[w.clause], paths[w.statute.split(" (")[0]]) for w in warnings]
    return render_template(
        "conformance.html",
        day=day,
        warnings=warnings,
        rows=rows,
        terms_version=terms_version,
        problems=problems,
    )


def _render_draft(engine, row, text, check=None, reason="", ground=None, saved=False):
    with engine.store.db.connect() as connection:
        check = check or check_draft(
            engine.catalog.root,
            publication_versions(connection),
            row.file,
            text,
            decider=engine.decider,
        )
        preview = _preview(engine, connection, row, check, reason, ground)
    fields, other_errors = _form(engine, row, text, check)
    if saved and (check.errors or (preview and preview.problems)):
        flash(
            "The draft was saved; it cannot be published until the faults shown are fixed.", "error"
        )
    elif saved:
        flash("Draft saved.", "info")
    errors_by_line: dict[int | None, list[dict]] = {}
    for error in check.errors:  # in words: no message shows a regular expression
        plain = {**error, "plain": plain_words(error["message"])}
        errors_by_line.setdefault(error["line"], []).append(plain)
    earliest = None
    if check.assessment:
        earliest = earliest_effective(
            engine.catalog, check.assessment.notice_clause, engine.catalog.local_date(_now())
        )
    return render_template(
        "draft.html",
        draft=row,
        text=text,
        lines=text.splitlines(),
        errors=errors_by_line,
        check=check,
        earliest=earliest,
        letters=_letter_preview(engine, check, reason, row.file),
        grounds=GROUNDS_OF_8_1,
        reason=reason,
        ground=ground,
        may_publish=_person().may_publish,
        examples=[(present(o.example), o) for o in check.examples],
        retired=[present(e) for e in check.retired],
        form_fields=fields,
        other_errors=other_errors,
        preview=preview,
    )


def _form(engine, row, text: str, check) -> tuple[list, list[dict]]:
    """The typed fields of the draft with its errors at them (admin_ui/forms.py), and the
    errors of no field; no fields if the text cannot be read as a version."""
    data = read_draft(text)
    if data is None:
        return [], list(check.errors)
    terms_file = _file(engine.catalog, row.file)
    fields = form_fields(terms_file, known_elements(engine.catalog.files), data)
    return place_errors(fields, check.errors)


def _preview(engine, connection, row, check, reason: str, ground):
    """What publishing the checked draft today would do
    (engine/drafting/publication_preview.py)."""
    if not check.assessment:
        return None
    catalog = engine.catalog
    return publication_preview.preview(
        connection,
        catalog,
        _file(catalog, row.file),
        check.assessment,
        notified_on=catalog.local_date(_now()),
        reason=reason,
        ground=ground,
    )


def _letter_preview(engine, check, reason: str, file: str) -> list[tuple[str, Any]]:
    """The letters publishing now would send (engine/contract/notices.py), per customer type,
    as the outbox will hold them: ``[("Verbraucher (2; shown: customer anna)", letter), ...]``."""
    if not check.assessment:
        return []
    with engine.store.db.connect() as connection:
        return publication_preview.sample_letters(
            connection,
            engine.catalog,
            _file(engine.catalog, file),
            check.assessment,
            reason=reason,
            notified_at=_now(),
        )


@bp.post("/drafts/<int:draft_id>/letter")
def preview_letter(draft_id: int):
    """The draft page with the letter as it would be sent with the reason typed (nothing saved)."""
    engine = _engine()
    row = _draft(engine, draft_id)
    reason = request.form.get("reason", "")
    ground = request.form.get("ground") or None
    return _render_draft(engine, row, row.text, reason=reason, ground=ground)


def _draft(engine, draft_id: int):
    with engine.store.db.connect() as connection:
        row = connection.execute(select(drafts).where(drafts.c.id == draft_id)).one_or_none()
    if row is None:
        raise NotFound(f"There is no draft {draft_id}.")
    return row


def _file(catalog: Catalog, file: str):
    for terms_file in catalog.files:
        if terms_file.path == file:
            return terms_file
    raise NotFound(f"There is no catalog file {file!r}.")


def _latest_version_text(root: Path, published: dict[str, str], file: str) -> str:
    """The newest version of a file as the editor shows it (without the list's indentation)."""
    text = (root / file).read_text(encoding="utf-8").rstrip("\n") + "\n" + published.get(file, "")
    lines = text.rstrip("\n").splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("  - effective_from:"))
    version = [line[4:] for line in lines[start:]]
    if "examples:" in version:  # a version's examples stay with it; a draft writes its own
        version = version[: version.index("examples:")]
    return "\n".join(version)
