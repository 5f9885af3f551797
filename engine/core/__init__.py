"""Plain types and arithmetic every stage shares: money, dates, deadlines, interest, state."""
