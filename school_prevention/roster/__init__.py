"""Roster import from the district's SIS: OneRoster 1.1 CSV (the SIS is the only creator of students)."""
