"""Publicity owns no tables; ``rules.py`` decides which fields may leave the ledger."""
