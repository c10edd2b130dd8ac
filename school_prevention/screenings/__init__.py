"""Screenings: instrument, result level and next step (never a licensed instrument's items)."""
