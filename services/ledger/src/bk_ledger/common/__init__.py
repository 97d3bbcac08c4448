"""Pieces every ledger shares: record columns, scoping, photos, findings → alerts, rule config."""
