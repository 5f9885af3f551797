"""The ledger: events as received, account state, ledger entries and deadlines, in SQL."""
