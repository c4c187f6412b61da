"""Borough widget server (issue 5)."""
