"""The contract states every stage asks about (AGB 1.1.1, 1.4.1, 1.5, 9.3)."""

# A contract no event may use: withdrawn (AGB 9.3), lapsed unaccepted (AGB 1.1.1), deleted
# (AGB 1.5).
GONE = ("withdrawn", "lapsed", "deleted")
# Gone, or ended by termination or refund (AGB 1.4.1): no top-up is requested any more
# (AGB 4.1.2), no plan changes, no change notices.
CONTRACT_OVER = ("ended", *GONE)
