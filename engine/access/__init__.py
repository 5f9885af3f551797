"""Who may act: API tokens of billing services and the people of the admin UI."""
