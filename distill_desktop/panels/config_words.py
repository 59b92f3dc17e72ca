"""The config editor's own words for the engine's dotted field paths.

The engine's validator names fields by their dotted path (`loss.stft.win_lengths[0]`), which is
right for a TOML file and the terminal. In the editor a person sees "Resolution 1 · Window length"
instead, so the messages shown there use these words; the dotted path stays in the tooltip.
"""
from __future__ import annotations

import re

from .config_fields import GROUPS, LISTS, STFT

_PLAIN_GROUP = "Training"  # its labels ("Learning rate", "Epochs") need no group name


def _scalar_words() -> dict[str, str]:
    words = {}
    for title, fields in GROUPS:
        for path, label in fields:
            words[path] = label if title == _PLAIN_GROUP else f"{title} · {label}"
    for title, fields in GROUPS:  # the validator also writes loss fields without "loss."
        for path, _ in fields:
            if path.startswith("loss."):
                words.setdefault(path[len("loss."):], words[path])
    for name, title in LISTS:
        words[STFT + name] = f"STFT resolutions · {title}"
        words.setdefault(STFT[len("loss."):] + name, words[STFT + name])
        words.setdefault(name, words[STFT + name])
    words["loss"] = "Loss weights"
    return words


WORDS = _scalar_words()
_LIST_TITLES = dict(LISTS)
_CELL = re.compile(r"(?:loss\.)?(?:stft\.)?(" + "|".join(_LIST_TITLES) + r")\[(\d+)\]")
# only names no English sentence has (dotted or with an underscore): "epochs" stays a word
_NAMES = re.compile(r"(?<![\w.])(" + "|".join(re.escape(p) for p in sorted(WORDS, key=len, reverse=True)
                                               if "." in p or "_" in p)
                    + r")(?![\w\[])")


def field_words(path: str) -> str:
    """What the editor calls the field at `path` ("Resolution 2 · Hop size", "Learning rate")."""
    cell = _CELL.fullmatch(path)
    if cell:
        return f"Resolution {int(cell.group(2)) + 1} · {_LIST_TITLES[cell.group(1)]}"
    return WORDS.get(path, path)


def in_editor_words(text: str) -> str:
    """`text` (a validator message) with every dotted field path replaced by the editor's words."""
    text = _CELL.sub(lambda m: f"Resolution {int(m.group(2)) + 1} · {_LIST_TITLES[m.group(1)]}", text)
    return _NAMES.sub(lambda m: WORDS[m.group(1)], text)
