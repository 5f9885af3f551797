"""What the invoice of the 20th for a negative credit settles (CLINQ SD 1.3).

The invoice asks for the outstanding amount of the credit account: the negative balance minus
what open invoices already claim. It is no invoice for new supplies: the charges behind it are
invoiced, with their VAT, on the monthly invoice of their period, which counts this amount as
already claimed (BT-113). So the settlement invoice shows, instead of a VAT line, what it
settles: the charges of the periods not yet invoiced, what payments and credit already cover,
and the open invoices whose amounts it leaves out.
"""

from __future__ import annotations

from engine.core.money import from_cents
from engine.core.state import AccountState, Invoice


def settlement_detail(account: AccountState, outstanding: Invoice, invoices: list[Invoice]) -> dict:
    """The breakdown of ``outstanding`` (the invoice of the 20th) for its PDF and e-invoice.

    ``charges``: what is not yet invoiced, by period and item (net, as booked); ``offset``:
    payments and credit that cover part of them (negative when the account carries a debit no
    invoice claims, e.g. a returned top-up); ``open_invoices``: earlier invoices still open,
    whose amounts are not claimed again. Open invoices never claim more than the debt
    (engine/payments/open_claims.py): the invoice asks for the debt they leave unclaimed.
    """
    charges = [
        {"period": period, "item": item, "net": f"{from_cents(total[0])}"}
        for period, items in sorted(account.period_charges.items())
        for item, total in sorted(items.items())
    ]
    uninvoiced = sum(
        total[0] for items in account.period_charges.values() for total in items.values()
    )
    earlier = [i for i in invoices if i.number != outstanding.number and i.open_cents > 0]
    claimed = sum(i.open_cents for i in earlier)
    return {
        "balance": f"{from_cents(account.balance_cents)}",
        "charges": charges,
        "uninvoiced": f"{from_cents(uninvoiced)}",
        "offset": f"{from_cents(uninvoiced - outstanding.amount_cents)}",
        "open_invoices": [
            {"number": i.number, "period": i.period, "open": f"{from_cents(i.open_cents)}"}
            for i in earlier
        ],
        "claimed_by_open_invoices": f"{from_cents(claimed)}",
        "periods": sorted(account.period_charges),
    }
