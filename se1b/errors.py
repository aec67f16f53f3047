"""One error type for problems the user can fix (bad files, bad config): the CLI prints it on one line."""


class UserError(Exception):
    """A clear, one-line, user-facing error; `se1b` prints it and exits with status 2."""
