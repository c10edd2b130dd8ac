"""Coverage dashboards and the small-cell suppression of aggregate figures."""
