"""The CLI's own input error (bad flags, bad values) — reported as one line, exit code 2."""

from okr.errors import BadInput


class UserError(BadInput):
    """Bad input on the command line."""
