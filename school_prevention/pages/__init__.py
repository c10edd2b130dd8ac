"""Pages that compose several features (the student page, the caseload, the home pages): a layer above them."""
