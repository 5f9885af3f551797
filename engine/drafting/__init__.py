"""The legal workspace above the engine (AGB 8): examples, impact previews, publishing."""
