"""Subcommands of the `paczero` CLI, one module each.

Each module defines `register(subparsers)`, which adds its parser and sets
`func` to a callable that takes the parsed arguments and returns an exit code.
"""

COMMAND_MODULES = [
    "paczero.commands.train",
    "paczero.commands.cells",
    "paczero.commands.privacy",
    "paczero.commands.status",
    "paczero.commands.figure",
]
