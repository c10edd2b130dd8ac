"""Notifications: the in-app centre (and, with the check-ins work, email delivery)."""
