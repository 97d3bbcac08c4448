"""Bright Kitchen command line: run the platform, seed the demo, operate services."""
