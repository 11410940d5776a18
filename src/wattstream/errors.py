"""The project's user-facing error: the CLI prints its message and exits non-zero, no traceback."""


class WattstreamError(RuntimeError):
    """A failure the user can act on; the message says what went wrong and what to do."""
