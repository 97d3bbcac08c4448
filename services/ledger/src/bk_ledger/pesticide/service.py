"""Pesticide tests have no time-based sweep; traceability reads them through ``trace.service``."""
