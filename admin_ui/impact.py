"""The impact section of a draft's page (AGB 8): the period replayed with and without it.

``GET /admin/drafts/<id>/impact?from=YYYY-MM-DD&to=YYYY-MM-DD`` renders the draft page with
the impact of engine/drafting/impact.py: revenue per item before and after as a bar chart drawn
on the server (SVG, no script), the largest changes per account and the notices publishing
would send. Nothing is written; empty dates mean the last complete month of the stored events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import flash, g, request

from admin_ui.display import label
from admin_ui.views import _draft, _engine, _render_draft, bp
from engine.catalog import NotInForce
from engine.core.money import format_amount
from engine.drafting.impact import Impact, ImpactRefused, Period, default_period, draft_impact

ROW = 34  # px per item: two bars of 12 and the gap
LABEL = 260  # px for the item labels left of the bars ("Calls: Premium-rate numbers (0900)")
BARS = 380  # px of the longest bar
WIDTH = LABEL + BARS + 90  # and room for the amount right of a bar


@dataclass(frozen=True)
class Bar:
    item: str
    y: int
    before: int  # px
    after: int
    before_text: str
    after_text: str
    delta_text: str
    changed: bool


def chart(impact: Impact) -> tuple[list[Bar], int]:
    """Bars of revenue per item before and after, scaled to the largest; and the height."""
    largest = max((max(i.before, i.after) for i in impact.by_item), default=Decimal(0))

    def length(amount: Decimal) -> int:
        if largest <= 0 or amount <= 0:
            return 0
        return max(1, int(amount / largest * BARS))

    bars = [
        Bar(
            item.item,
            index * ROW,
            length(item.before),
            length(item.after),
            format_amount(item.before),
            format_amount(item.after),
            ("+" if item.delta > 0 else "") + format_amount(item.delta),
            item.delta != 0,
        )
        for index, item in enumerate(impact.by_item)
    ]
    return bars, max(len(bars), 1) * ROW + 24


@bp.app_template_filter("label")
def _label(identifier: object) -> str:
    """``{{ item|label }}`` in every admin template: an identifier's label (admin_ui/display.py)."""
    return label(identifier)


@bp.get("/drafts/<int:draft_id>/impact")
def draft_impact_view(draft_id: int):
    engine = _engine()
    row = _draft(engine, draft_id)
    asked = {"from": request.args.get("from", ""), "to": request.args.get("to", "")}
    g.impact_asked = asked
    try:
        with engine.store.db.connect() as connection:
            period = _period(asked, connection, engine.catalog)
            g.impact_asked = {"from": period.first.isoformat(), "to": period.last.isoformat()}
            impact = draft_impact(
                connection, engine.catalog.root, row.file, row.text, period, decider=engine.decider
            )
    except (ImpactRefused, NotInForce) as refused:
        flash(f"No impact: {refused}", "error")
    else:
        g.impact = impact
        g.impact_bars, g.impact_height = chart(impact)
        g.impact_geometry = {"label": LABEL, "bars": BARS, "width": WIDTH}
    return _render_draft(engine, row, row.text)


def _period(asked: dict[str, str], connection, catalog) -> Period:
    if not asked["from"] and not asked["to"]:
        period = default_period(connection, catalog)
        if period is None:
            raise ImpactRefused("there are no stored events yet: choose a period")
        return period
    days = []
    for name in ("from", "to"):
        try:
            days.append(date.fromisoformat(asked[name]))
        except ValueError:
            raise ImpactRefused(
                f"{name}: {asked[name]!r} is not a date (YYYY-MM-DD); give both days"
            ) from None
    return Period(*days)
