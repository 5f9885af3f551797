"""What leaves the platform by itself: webhook messages and the e-mail outbox."""
