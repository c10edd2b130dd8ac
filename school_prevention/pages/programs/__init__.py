"""Program pages that compose features above programs (views of the programs and mentoring blueprints)."""
