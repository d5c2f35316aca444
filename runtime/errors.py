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


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread by the command line's handlers.

    A KeyboardInterrupt, so every path that cleans up after Ctrl-C (partial outputs removed,
    pipeline stages stopped, a live recording finalised) does the same for these signals;
    ``exit_code`` is the shell's convention for a death by that signal, 128 + its number.
    """

    def __init__(self, signum: int, name: str) -> None:
        super().__init__(name)
        self.signum = signum
        self.name = name  # SIGTERM, SIGHUP
        self.exit_code = 128 + signum
