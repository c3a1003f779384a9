"""Errors a user can act on: each message names the bad input and the fix."""


class UsageError(Exception):
    """A bad command-line argument or input file; the CLI prints it as one line and exits 2."""
