"""English wording of the CLI's counts and roles ("1 poster", "2 posters", "a staff member").

The CLI speaks English to the administrator; what the bot says to people is in the
catalogues (locales/), with their own plural forms.
"""

from __future__ import annotations

from bot.domain import Role

ROLE_NOUNS: dict[str, str] = {  # Role is a StrEnum: its plain value finds it too
    Role.SUPERVISOR: "supervisor",
    Role.PSYCHOLOGIST: "psychologist",
    Role.STAFF: "staff member",
}


def counted(count: int, one: str, many: str | None = None) -> str:
    """`count` and the noun it takes: `one` for exactly 1, else `many` (default: one + "s")."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def a_role(role: str) -> str:
    """A role with its article: "a supervisor", "a staff member"."""
    noun = ROLE_NOUNS.get(role, role)
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"
