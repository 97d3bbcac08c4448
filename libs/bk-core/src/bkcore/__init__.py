"""Bright Kitchen shared core: what every service needs and nothing service-specific."""
