"""Disclosures (FERPA 34 CFR 99.32), guardians from the roster, their consents, and parent inspection requests."""
