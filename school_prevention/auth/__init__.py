"""Users, sign-in, server-side sessions and passwords."""
