"""Bright Kitchen stream gateway: camera registry, stream pulling, sampling, camera health, live view."""
