"""Awareness pages per role (signs to watch for, routing a concern, whom to call) and who confirmed reading them."""
