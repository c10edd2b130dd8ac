"""Staff concern referrals and the counselors' triage queue."""
