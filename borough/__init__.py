"""Borough's shared kernel: the org model, settings, the app database and the Matrix client.

Every component imports from here; nothing here imports a component.
"""

__version__ = "0.1.0"
