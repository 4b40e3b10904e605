"""Labels: both languages have every key, and every page renders in both without a missing label."""

from __future__ import annotations

from services.inbox.labels import LANGUAGES, Labels, language, load_labels


def test_both_languages_have_the_same_keys() -> None:
    labels = load_labels()
    assert set(labels["en"]) == set(labels["vi"])
    assert all(v.strip() for lang in LANGUAGES for v in labels[lang].values())


def test_vietnamese_is_the_default_and_unknown_codes_fall_back() -> None:
    assert language(None) == "vi"
    assert language("fr") == "vi"
    assert Labels("en")("sign_in") == "Sign in"
    assert Labels("xx")("sign_in") == "Đăng nhập"
