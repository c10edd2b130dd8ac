"""Administration: user accounts, their roles and schools."""
