"""Documents for customers: invoices (AGB 4.3) and itemised bills (AGB 5.5, CLINQ SD 2.5)."""
