"""Schools of the district this deployment serves."""
