"""Documents for customers: invoices (AGB 4.3) and itemised bills (AGB 5.5, CLINQ SD 2.5)."""


def invoice_filename(number: str) -> str:
    return f"Rechnung-{number}.pdf"


def itemised_bill_filename(account: str, month: str) -> str:
    return f"EVN-{account}-{month}.pdf"
