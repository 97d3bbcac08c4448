"""Disinfection has no time-based sweep; completeness counts its runs per day."""
