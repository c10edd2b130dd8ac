"""A student's record of access (FERPA 34 CFR 99.32): who viewed, changed, exported or disclosed it, and when."""
