"""Nickname rules, including properties over arbitrary text."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from speedrun_signon.nicknames import (
    MAX_NICKNAME,
    NicknameError,
    fold_nickname,
    normalise_nickname,
)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Ada  ", "Ada"),
        ("\uff21\uff44\uff41", "Ada"),  # fullwidth
        ("ﬁona", "fiona"),  # ligature
        ("Zoë", "Zoë"),
        ("Zoe\u0308", "Zoë"),  # combining diaeresis composes
        ("❤\ufe0f fan", "❤ fan"),  # variation selector dropped
        ("李小龙", "李小龙"),
        ("Ghost", "Ghost"),  # contains "host", but is not the word
        ("a\u00a0b", "a b"),  # no-break space becomes a space
    ],
)
def test_normalise_keeps_good_nicknames(raw: str, stored: str) -> None:
    assert normalise_nickname(raw) == stored


def test_fold_ignores_case() -> None:
    assert fold_nickname("STRASSE") == fold_nickname("straße")


@given(st.text(max_size=40))
def test_normalise_any_text_gives_a_valid_nickname_or_refuses(raw: str) -> None:
    try:
        nickname = normalise_nickname(raw)
    except NicknameError:
        return
    assert 1 <= len(nickname) <= MAX_NICKNAME
    assert nickname == nickname.strip()
    assert unicodedata.normalize("NFKC", nickname) == nickname
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs", "Cn") for c in nickname)
    assert normalise_nickname(nickname) == nickname  # idempotent


@given(st.text(alphabet=st.characters(categories=["Cc", "Cf"]), min_size=1, max_size=5))
def test_normalise_refuses_control_and_format_characters(junk: str) -> None:
    with pytest.raises(NicknameError):
        normalise_nickname("Ada" + junk + "Lovelace")
