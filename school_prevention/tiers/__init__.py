"""MTSS tiers of support and intervention plans with progress monitoring."""
