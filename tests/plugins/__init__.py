"""The suite's fixtures and hooks, one concern a module, listed in ``tests/conftest.py``."""
