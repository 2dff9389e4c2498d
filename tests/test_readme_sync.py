"""README.md, README.ko.md and specs/fashion_cnn.yaml cannot drift apart.

* README.md's "A spec" section shows ``specs/fashion_cnn.yaml`` verbatim (its one ``yaml`` block);
* README.ko.md shows the same shell commands as README.md, and every ``yaml`` block it shows is one
  of README.md's, character for character.

A shell command is a line of a fenced block whose info string is ``bash``, ``sh``, ``shell``,
``zsh`` or ``console`` (in ``console`` blocks only the lines starting with the prompt ``$ ``),
backslash continuations joined, with its trailing ``# comment`` dropped: comments are translated,
commands are not. Untagged blocks (README.md's command synopsis, completion snippet and error
output) are not commands. Order does not count: the Korean quickstart groups them by its own sections.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EN = ROOT / "README.md"
KO = ROOT / "README.ko.md"
SPEC = ROOT / "specs" / "fashion_cnn.yaml"
SHELLS = ("bash", "sh", "shell", "zsh", "console")
_FENCE = re.compile(r"^```[ \t]*([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)


def _read(path: Path) -> str:
    """A file's text."""
    return path.read_text(encoding="utf-8")


def _tagged(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced code block of a Markdown page, in order."""
    return [(lang.lower(), body) for lang, body in _FENCE.findall(text)]


def _blocks(text: str, lang: str) -> list[str]:
    """The bodies of the fenced code blocks tagged ``lang``, in order."""
    return [body for tag, body in _tagged(text) if tag == lang]


def _strip_comment(line: str) -> str:
    """``line`` without its shell comment: from an unquoted ``#`` at the start or after whitespace."""
    quote, i = None, 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and quote != "'":  # an escaped character is never a quote or a comment
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
        i += 1
    return line.rstrip()


def _commands(text: str) -> list[str]:
    """Every shell command of a Markdown page's shell blocks (rule in the module docstring)."""
    commands = []
    for lang, body in _tagged(text):
        if lang not in SHELLS:
            continue
        joined, pending = [], None
        for ln in body.splitlines():
            if pending is None:  # not a continuation line
                if lang == "console":
                    if not ln.startswith("$ "):
                        continue  # output
                    ln = ln[2:]
                pending = ""
            if ln.rstrip().endswith("\\"):
                pending += ln.rstrip()[:-1].strip() + " "
                continue
            joined.append(pending + ln.strip())
            pending = None
        commands += [c for c in (_strip_comment(j) for j in joined) if c]
    return commands


def _section(text: str, title: str) -> str:
    """The body of the ``## title`` section of a Markdown page (up to the next ``## ``)."""
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"no section '## {title}'"
    return m.group(1)


def _diff(a: str, b: str, a_name: str, b_name: str) -> str:
    """A unified diff of two texts, for an assertion message."""
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), a_name, b_name))


def test_comment_rule():
    """Trailing comments go; a ``#`` inside quotes or inside a word stays."""
    assert _strip_comment('dlbuild tune x.yaml --dry-run    # 탐색 공간만') == "dlbuild tune x.yaml --dry-run"
    assert _strip_comment('echo "a # b" \'c # d\' e#f  # g') == 'echo "a # b" \'c # d\' e#f'
    assert _strip_comment(r'printf "\"#" \# x # y') == r'printf "\"#" \# x'
    assert _commands("```console\n$ pip install \\\n    x  # y\nout # put\n```\n") == ["pip install x"]


def test_readme_shows_the_default_spec():
    """README.md's "A spec" section shows specs/fashion_cnn.yaml, unchanged."""
    blocks = _blocks(_section(_read(EN), "A spec"), "yaml")
    assert len(blocks) == 1, f"README.md's 'A spec' section has {len(blocks)} yaml blocks, not 1"
    spec = _read(SPEC)
    assert blocks[0] == spec, "README.md's 'A spec' differs from specs/fashion_cnn.yaml:\n" + _diff(
        spec, blocks[0], "specs/fashion_cnn.yaml", "README.md (A spec)")


def test_both_readmes_show_the_same_commands():
    """The same set of shell commands in README.md and README.ko.md."""
    en, ko = _commands(_read(EN)), _commands(_read(KO))
    assert len(en) >= 2, f"found too few shell commands in README.md: {en}"
    only_en = [c for c in en if c not in ko]
    only_ko = [c for c in ko if c not in en]
    assert not only_en and not only_ko, (
        "README.md and README.ko.md show different shell commands\n"
        + "".join(f"  only in README.md:    {c}\n" for c in only_en)
        + "".join(f"  only in README.ko.md: {c}\n" for c in only_ko))


def test_korean_yaml_blocks_are_readme_blocks():
    """Every yaml block of README.ko.md is, verbatim, a yaml block of README.md."""
    en, ko = _blocks(_read(EN), "yaml"), _blocks(_read(KO), "yaml")
    assert ko, "README.ko.md shows no yaml block: nothing to compare"
    for block in ko:
        if block not in en:
            nearest = max(en, key=lambda b: difflib.SequenceMatcher(None, b, block).ratio())
            raise AssertionError("a yaml block of README.ko.md is not in README.md; against the nearest one:\n"
                                 + _diff(nearest, block, "README.md", "README.ko.md"))
