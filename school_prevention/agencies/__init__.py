"""Outside agencies: the directory, and students' referrals to them with status, follow-ups and outcome."""
