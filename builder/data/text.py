"""Tokenization and vocabularies for text data (no TensorFlow).

Conventions (the same as Keras's ``TextVectorization`` / ``StringLookup``): id 0 is the padding
token ``""`` and id 1 is the out-of-vocabulary token ``"[UNK]"``; task-specific special tokens
(``[START]``, ``[END]``, ``[MASK]``) follow, then the corpus tokens by descending count (ties in
code-point order, so the vocabulary is deterministic). ``max_tokens`` counts every entry.

Levels:
    ``char``: every character is a token (case kept unless ``lowercase``).
    ``word``: runs of letters/digits/apostrophes, and each punctuation mark on its own
        (``"Hello, world!" -> ["hello", ",", "world", "!"]`` with ``lowercase``).
"""

from __future__ import annotations

import json
import pathlib
import re
from collections import Counter
from typing import Iterable, Sequence

import numpy as np

PAD, UNK, START, END, MASK = "", "[UNK]", "[START]", "[END]", "[MASK]"
_WORD = re.compile(r"[\w']+|[^\w\s]")
_LETTERS = re.compile(r"[\w']+")
_NO_SPACE_BEFORE = re.compile(r" ([,.;:!?')\]}])")


def tokenize(text: str, level: str = "word", lowercase: bool = True) -> list[str]:
    """Split ``text`` into tokens at ``level`` (``char`` or ``word``)."""
    if lowercase:
        text = text.lower()
    return list(text) if level == "char" else _WORD.findall(text)


def words(text: str) -> list[str]:
    """The words of ``text``: the runs of letters, digits and apostrophes (``tokenize`` at ``word``
    level without the punctuation tokens)."""
    return _LETTERS.findall(text)


def detokenize(tokens: Iterable[str], level: str = "word") -> str:
    """Join tokens back into text (``word``: spaces, none before closing punctuation).

    Padding tokens are dropped; special tokens are kept as written.
    """
    tokens = [t for t in tokens if t != PAD]
    if level == "char":
        return "".join(tokens)
    return _NO_SPACE_BEFORE.sub(r"\1", " ".join(tokens))


def build_vocabulary(token_lists: Iterable[Sequence[str]], *, max_tokens: int | None = None,
                     specials: Sequence[str] = ()) -> list[str]:
    """Vocabulary (index -> token): ``["", "[UNK]", *specials, most frequent tokens...]``.

    Args:
        token_lists: Tokenized texts (only the training split, so no test token leaks in).
        max_tokens: Total size including padding, ``[UNK]`` and ``specials``; None keeps all.
        specials: Extra reserved tokens placed right after ``[UNK]``.
    """
    counts = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    reserved = [PAD, UNK, *specials]
    for t in reserved:
        counts.pop(t, None)
    ranked = sorted(counts, key=lambda t: (-counts[t], t))
    if max_tokens is not None:
        ranked = ranked[:max(0, max_tokens - len(reserved))]
    return reserved + ranked


def encode(tokens: Sequence[str], index: dict[str, int]) -> np.ndarray:
    """Token ids (int32) of ``tokens``; unknown tokens -> 1 (``[UNK]``)."""
    return np.fromiter((index.get(t, 1) for t in tokens), np.int32, len(tokens))


def pad_ids(seqs: Sequence[np.ndarray], length: int, *, padding: str = "post",
            truncating: str = "post", value: int = 0) -> np.ndarray:
    """Stack 1-D id arrays into ``(n, length)`` int32, padding/truncating at the end (``post``) or start."""
    out = np.full((len(seqs), length), value, np.int32)
    for i, s in enumerate(seqs):
        s = s[:length] if truncating == "post" else s[-length:] if length else s[:0]
        if padding == "post":
            out[i, :len(s)] = s
        elif len(s):
            out[i, -len(s):] = s
    return out


def save_vocabulary(vocabulary: Sequence[str], path: str | pathlib.Path, level: str | None = None) -> None:
    """Write ``{"level": ..., "tokens": [...]}`` as UTF-8 JSON (index = token id)."""
    pathlib.Path(path).write_text(json.dumps({"level": level, "tokens": list(vocabulary)}, ensure_ascii=False),
                                  encoding="utf-8")


def load_vocabulary(path: str | pathlib.Path) -> tuple[list[str], str | None]:
    """Read a vocabulary written by :func:`save_vocabulary` (or a run directory holding
    ``vocabulary.json``); returns ``(tokens, level)``.

    Raises:
        ValueError: not such a file.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / "vocabulary.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(doc, list):
        return [str(t) for t in doc], None
    if not isinstance(doc, dict) or not isinstance(doc.get("tokens"), list):
        raise ValueError(f"{path}: expected {{'level': ..., 'tokens': [...]}}")
    return [str(t) for t in doc["tokens"]], doc.get("level")
