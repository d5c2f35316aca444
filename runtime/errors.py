"""The one exception type that reaches the user as a single line."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or environment: printed as one line on stderr, exit code ``exit_code``.

    Raise it for anything the user can fix (a missing file, a wrong weights layout, a
    camera that is not there); let real bugs raise their own exceptions.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
