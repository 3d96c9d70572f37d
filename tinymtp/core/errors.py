"""The one exception type a user of tinymtp should ever see.

Everything that can go wrong because of the user's input (a missing corpus file, a prompt with
characters the model never saw, a damaged checkpoint, a negative number of minutes) raises
`TinyMTPError` with a one-line message that names the problem. The CLI prints that line and
exits with status 2; the app shows it on the page; a notebook shows it in the cell. Anything
else that escapes is a bug in tinymtp.
"""


class TinyMTPError(Exception):
    """A problem with the user's input, explained in one line."""


class UnknownCharactersError(TinyMTPError, ValueError):
    """Text contains characters that are not in the model's vocabulary."""

    def __init__(self, unknown: list[str]):
        self.unknown = unknown
        shown = ", ".join(repr(c) for c in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        super().__init__(f"the text contains characters not in the model's vocabulary: {shown}{more}")
