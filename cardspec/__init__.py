"""Spec knowledge, declared once: identifiers, record layouts, profiles, card cryptography."""
