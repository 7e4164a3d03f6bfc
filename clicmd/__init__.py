"""Subcommands of the ``sscard`` CLI (the root group lives in ``cli.py``)."""
