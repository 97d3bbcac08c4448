"""Signals for a site the directory does not know: held, retried, then dead-lettered (never dropped)."""
