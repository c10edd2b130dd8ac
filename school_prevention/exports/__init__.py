"""Reporting exports: CSV and XLSX writers that are safe to open in a spreadsheet."""
