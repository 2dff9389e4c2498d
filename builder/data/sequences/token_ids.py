"""``data.tokenize``: labelled texts → padded token ids, keeping the labels (no TensorFlow).

Input: x ``(n,)`` strings, y ``(n,)`` labels (kind ``text``). Output per split: x
``(n, sequence_length)`` int32 ids, 0-padded/truncated at the end, y unchanged. The vocabulary is
built on the training texts, or read from a saved ``vocabulary.json`` (``tokenize.vocabulary``: a
file or a run directory) so a fine-tuned model sees the ids it was trained with.
"""

from __future__ import annotations

import pathlib

from builder.data import text as tx
from builder.data.sequences.prepared import Prepared, each, option_error, vocab_info


def saved_vocabulary(opts: dict, spec_dir: pathlib.Path) -> list[str] | None:
    """The vocabulary ``tokenize.vocabulary`` names (relative to ``spec_dir``), or None when not given.

    Raises:
        SpecError: at ``data.tokenize.vocabulary`` for an unreadable file, at ``data.tokenize.level``
            when the file's level differs from ``tokenize.level``.
    """
    if not opts["vocabulary"]:
        return None
    path = pathlib.Path(opts["vocabulary"]).expanduser()
    path = path if path.is_absolute() else pathlib.Path(spec_dir) / path
    try:
        vocab, level = tx.load_vocabulary(path)
    except (OSError, ValueError) as exc:
        raise option_error(f"could not read the vocabulary {path}: {exc}", "tokenize", "vocabulary") from None
    if level and level != opts["level"]:
        raise option_error(f"the vocabulary {path} is {level}-level; tokenize.level is {opts['level']}",
                           "tokenize", "level")
    return vocab


def tokenize_preparer(opts: dict, vocab: list | None):
    """The preparer of ``data.tokenize`` options ``opts``; ``vocab`` (index -> token) or None to build one."""

    def prepare(parts: dict) -> Prepared:
        lvl, low = opts["level"], opts["lowercase"]
        voc = vocab or tx.build_vocabulary((tx.tokenize(str(s), lvl, low) for s in parts["train"][0]),
                                           max_tokens=opts["max_tokens"])
        index = {t: i for i, t in enumerate(voc)}

        def make(_name, xy):
            return tx.pad_ids([tx.encode(tx.tokenize(str(s), lvl, low), index) for s in xy[0]],
                              opts["sequence_length"]), xy[1]
        return Prepared(each(parts, make), vocab_info(voc, lvl, tokenize=opts))
    return prepare
