"""UserError: the one exception type the CLI turns into a single readable line (no traceback).

Raise it (or a subclass) for anything a user can fix: bad config, bad trace, missing device, refused
permission. Edit this module only to add a new user-facing error family.
"""


class UserError(Exception):
    """A problem the user can fix; ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
