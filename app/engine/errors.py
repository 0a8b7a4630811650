"""The one error the engine raises: terms (or payments) that cannot make a schedule."""

from __future__ import annotations


class TermsError(ValueError):
    """Impossible input; `field` is the dotted path of the input at fault, `code` a short reason."""

    def __init__(self, field: str, message: str, code: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code

    def __reduce__(self) -> tuple[type[TermsError], tuple[str, str, str]]:
        # The default reduce replays `args`, which is the one formatted string, not our three.
        return (type(self), (self.field, self.message, self.code))
