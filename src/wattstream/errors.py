"""The project's user-facing errors: the CLI prints their message and exits 1, no traceback."""


class WattstreamError(RuntimeError):
    """A failure the user can act on; the message says what went wrong and what to do."""


class ConfigError(ValueError):
    """A configuration key or value is wrong; the message starts with the dotted key."""
