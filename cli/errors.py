"""The CLI's own input error (bad flags, bad values) — reported as one line, exit code 2."""


class UserError(ValueError):
    """Bad input on the command line."""
