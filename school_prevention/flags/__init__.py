"""At-risk flags: categories, severity, status with history, restricted notes, mandated reports."""
