"""Borough bots (issue 4)."""
