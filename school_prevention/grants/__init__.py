"""Separation of duties: access to case data proposed by an admin, approved by a district user."""
