"""The inbox's labels in English and Vietnamese, from labels.yaml (data, not code)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

LABELS_FILE = Path(__file__).with_name("labels.yaml")
LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"


@cache
def load_labels(path: Path = LABELS_FILE) -> dict[str, dict[str, str]]:
    """Labels by language, then key."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {lang: {str(k): str(v) for k, v in data[lang].items()} for lang in LANGUAGES}


def language(requested: str | None) -> str:
    """A supported language code: the one asked for, or the default."""
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE


class Labels:
    """The labels of one language; an unknown key is a bug (KeyError), never an empty label."""

    def __init__(self, lang: str) -> None:
        self.lang = language(lang)
        self._labels = load_labels()[self.lang]

    def __call__(self, key: str) -> str:
        """The label of `key` in this language."""
        return self._labels[key]

    def pick(self, label: Any) -> str:
        """The text, in this language, of a lifecycle label (config/lifecycle.yaml: an object with `en` and `vi`)."""
        return str(getattr(label, self.lang))
