"""Shared fixtures for platform driver tests (each driver test module keeps its own payload helpers)."""
