"""Helpers of one protocol or one suite (the general ones are in ``tests/helpers.py``)."""
