"""The OneRoster import as a pipeline, one job per module, run in the caller's one transaction.

read (parse and validate every row; rejects keep their line) -> stage (valid students into a
temporary table) -> upsert (set-based writes from the staging table; change detection in SQL)
-> handoff (students who moved or left: the check-ins hand-off services) -> run (the orchestrator).
Schools, staff, guardians and demographics are small and keep their own modules.
"""
