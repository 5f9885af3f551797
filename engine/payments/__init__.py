"""Payment terms (AGB 4.2, 4.4): mandates, returned debits, allocation, default, blocking."""
