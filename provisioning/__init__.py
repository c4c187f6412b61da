"""Provisioning: turn the org YAML into spaces, rooms, users and profiles on a live Synapse.

`desired` says what should exist, `live` reads what does, `plan` diffs the two into a stable,
printable value, and `apply` executes it. `cli` holds the `borough` subcommands.
"""
