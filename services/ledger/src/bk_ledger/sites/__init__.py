"""The ledger's local copy of sites (owned by the case-manager): org path, opening time, timezone."""
