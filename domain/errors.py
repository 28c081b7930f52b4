"""Errors the domain raises when a command is not allowed; each message speaks to a person."""


class DomainError(ValueError):
    """A command was rejected; the message says what was wrong and what would be right."""


class NotFound(DomainError):
    """The key names nothing of that kind."""


class AlreadyExists(DomainError):
    """A thing of that kind already has this key."""
