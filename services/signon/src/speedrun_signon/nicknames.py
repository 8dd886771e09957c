"""Nickname rules: what a participant may be called in a run.

A nickname is NFKC-normalised, trimmed, 1 to :data:`MAX_NICKNAME` characters (code points), has
no control, format (zero-width), private-use, unassigned or invisible filler characters, and is
not on :data:`BLOCKED_WORDS`. Uniqueness within a run compares :func:`fold_nickname` forms.
Variation selectors (U+FE00-FE0F) are dropped rather than refused, so an emoji typed as "❤️"
is kept as "❤". Nicknames are text: nothing here escapes markup, every consumer renders text.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NICKNAME = 20
"""The longest nickname, in characters after normalisation."""

BLOCKED_WORDS = frozenset(
    {
        # Names that impersonate the game or its staff.
        "admin",
        "administrator",
        "host",
        "moderator",
        "server",
        "system",
        "speedrun",
        "teacher",
        # A few unambiguous slurs and obscenities; a teacher kicks the rest.
        "fuck",
        "fucker",
        "shit",
        "cunt",
        "nigger",
        "faggot",
        "whore",
        "bitch",
    }
)
"""Words refused as a whole nickname or as one of its words (compared folded, letters only)."""

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
_INVISIBLE = frozenset(
    {
        "\u034f",  # combining grapheme joiner
        "\u115f",  # Hangul choseong filler
        "\u1160",  # Hangul jungseong filler
        "\u17b4",  # Khmer vowel inherent aq
        "\u17b5",  # Khmer vowel inherent aa
        "\u180b",  # Mongolian free variation selectors
        "\u180c",
        "\u180d",
        "\u180f",
        "\u2800",  # braille pattern blank
        "\u3164",  # Hangul filler
        "\uffa0",  # halfwidth Hangul filler
    }
)
_VARIATION_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_WORDS = re.compile(r"[^\W\d_]+")


class NicknameError(ValueError):
    """The nickname breaks a rule; the message says which."""


def normalise_nickname(raw: str) -> str:
    """Return the nickname as it is stored and shown, or refuse it.

    Args:
        raw: What the participant typed.

    Returns:
        The NFKC-normalised, trimmed nickname.

    Raises:
        NicknameError: If it breaks a rule.
    """
    text = unicodedata.normalize("NFKC", _VARIATION_SELECTORS.sub("", raw)).strip()
    if not text:
        raise NicknameError("a nickname needs at least one visible character")
    if len(text) > MAX_NICKNAME:
        raise NicknameError(f"a nickname has at most {MAX_NICKNAME} characters")
    for char in text:
        category = unicodedata.category(char)
        if (
            category in _REFUSED_CATEGORIES
            or (category == "Zs" and char != " ")
            or char in _INVISIBLE
        ):
            raise NicknameError(
                f"a nickname may not contain control or invisible characters (U+{ord(char):04X})"
            )
    if all(unicodedata.category(char)[0] in "MZ" for char in text):
        raise NicknameError("a nickname needs at least one visible character")
    if _is_blocked(text):
        raise NicknameError("this nickname is not allowed; please choose another")
    return text


def fold_nickname(nickname: str) -> str:
    """Return the form two nicknames are compared in (case-insensitive, compatibility-folded).

    Args:
        nickname: A normalised nickname.

    Returns:
        Its case-folded NFKC form.
    """
    return unicodedata.normalize("NFKC", nickname.casefold())


def _is_blocked(nickname: str) -> bool:
    folded = fold_nickname(nickname)
    words = _WORDS.findall(folded)
    return "".join(words) in BLOCKED_WORDS or any(word in BLOCKED_WORDS for word in words)
