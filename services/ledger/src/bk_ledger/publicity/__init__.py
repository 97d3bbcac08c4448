"""Public summaries (阳光厨房公示) for parents: what was done today, never who (no personal data)."""
