"""The contract's life (AGB 1, 8, 9; CLINQ SD 1): conclusion to deletion, term-change notices."""
