"""Bright Kitchen public API (公众端): parents' mini-program edge, H5 page, kiosk and console."""
