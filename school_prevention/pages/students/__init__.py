"""The caseload and the student page: student-centred pages that show every feature's part."""
