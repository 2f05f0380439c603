"""Public text to speak: entries of two dictionaries that Debian ships as packages.

- ``dict-foldoc`` (Free On-line Dictionary of Computing, GNU FDL): definitions with history, names and dates.
- ``dict-jargon`` (The Jargon File 4.4.7, public domain): hacker slang and folklore, told as stories.

Both are dictd databases under ``/usr/share/dictd``: ``NAME.index`` lines are ``headword TAB offset TAB
length`` (numbers in dictd's base64), ``NAME.dict.dz`` is gzip-compatible text. An entry is turned into
sentences a speaker would say: cross-reference braces, category tags, pronunciations, dates, e-mail and web
addresses and "See also" lists are dropped.
"""

from __future__ import annotations

import gzip
import re
from functools import cache
from pathlib import Path

__all__ = ["DICT_DIR", "entry_sentences", "headwords", "read_entry", "require_dictionaries"]

DICT_DIR = Path("/usr/share/dictd")
DEBIAN_PACKAGES = {"foldoc": "dict-foldoc", "jargon": "dict-jargon"}
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_ABBREVIATIONS = ("e.g.", "i.e.", "ca.", "c.", "Mr.", "Dr.", "St.", "Co.", "vs.", "etc.", "cf.", "Inc.", "Ltd.")


def require_dictionaries() -> None:
    missing = [pkg for name, pkg in DEBIAN_PACKAGES.items() if not (DICT_DIR / f"{name}.index").is_file()]
    if missing:
        raise RuntimeError(f"missing dictionaries: apt-get install {' '.join(missing)}")


def _number(text: str) -> int:
    n = 0
    for ch in text:
        n = n * 64 + _B64.index(ch)
    return n


@cache
def _dictionary(name: str) -> tuple[bytes, dict[str, tuple[int, int]]]:
    with gzip.open(DICT_DIR / f"{name}.dict.dz") as f:
        data = f.read()
    index: dict[str, tuple[int, int]] = {}
    for line in (DICT_DIR / f"{name}.index").read_text(encoding="utf-8").splitlines():
        head, offset, length = line.split("\t")[:3]
        index.setdefault(head.lower(), (_number(offset), _number(length)))
    return data, index


def headwords(dictionary: str) -> list[str]:
    """Every headword of the dictionary as the entry writes it (the index keeps some in lower case), one
    per entry (an entry filed under several headwords comes once)."""
    data, _ = _dictionary(dictionary)
    seen: set[tuple[str, str]] = set()
    out = []
    for line in (DICT_DIR / f"{dictionary}.index").read_text(encoding="utf-8").splitlines():
        head, offset, length = line.split("\t")[:3]
        if (offset, length) in seen or head.startswith("00-database"):
            continue
        seen.add((offset, length))
        start = _number(offset)
        first = data[start : start + _number(length)].decode("utf-8").split("\n", 1)[0].strip()
        out.append(first if first.lower() == head.lower() else head)
    return out


def read_entry(dictionary: str, headword: str) -> str:
    """The raw text of one entry (headword lines included)."""
    data, index = _dictionary(dictionary)
    try:
        offset, length = index[headword.lower()]
    except KeyError:
        raise KeyError(f"{headword!r} is not in {dictionary}") from None
    return data[offset : offset + length].decode("utf-8")


def _body(dictionary: str, raw: str) -> str:
    lines = raw.splitlines()
    # The headword lines come first, unindented; the body is indented.
    start = next(i for i, line in enumerate(lines) if line.startswith(" "))
    body = [line.strip() for line in lines[start:]]
    if dictionary == "jargon" and body and re.fullmatch(r"(n|v|adj|adv|interj|pron|prep|conj|vt|vi)\..*", body[0]):
        body = body[1:]
    paragraphs = " ".join(line if line else "\n" for line in body).split("\n")
    keep = []
    for para in paragraphs:
        para = para.strip()
        if not para or re.match(r"^(See also|See|Compare|Usenet newsgroup|Home:|E-mail|Mailing list|\{?Home)", para):
            continue
        if re.fullmatch(r"\(\d{4}-\d{2}-\d{2}\)|\[[^\]]*\]", para):
            continue  # revision dates and source tags such as [Jargon File]
        keep.append(para)
    return "\n".join(keep)


def _clean(text: str) -> str:
    text = text.replace("\u2018", "'").replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = text.replace("\u2014", ", ").replace("\u2013", "-").replace("\u2026", "...")
    text = re.sub(r"<(?:[a-z][a-z ,/-]*)>", "", text)  # FOLDOC category tags such as <networking>
    text = re.sub(r"<[^<>\s]+@[^<>\s]+>", "", text)  # e-mail addresses
    text = re.sub(r"\b(?:https?|ftp|news|mailto):\S+", "", text)
    text = re.sub(r"\{([^{}]*?)\s*\([^(){}]*\)\}", r"\1", text)  # {standardised (standard)} -> standardised
    text = re.sub(r"[{}]", "", text)
    text = re.sub(r"/[^/\s][^/]{0,40}?/", "", text)  # pronunciations such as /yoo'niks/
    text = re.sub(r"\[[^\]]*\?\]", "", text)  # editorial queries such as [called?]
    text = re.sub(r"^\d+\.\s+", "", text, flags=re.M)  # numbered senses
    text = text.replace("[", "(").replace("]", ")")  # Festival reads brackets aloud ("left bracket")
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def _split_sentences(paragraph: str) -> list[str]:
    protected = paragraph
    for abbr in _ABBREVIATIONS:
        protected = protected.replace(abbr, abbr.replace(".", "\x00"))
    protected = re.sub(r"(?<![A-Za-z])([A-Z])\.(?=\s+[A-Z])", "\\1\x00", protected)  # initials: W. W. Norton
    parts = re.split(r"(?<=[.!?])[\"')]?\s+(?=[A-Z\"'(])", protected)
    return [p.replace("\x00", ".").strip() for p in parts if len(p.strip()) > 1]


def entry_sentences(dictionary: str, headword: str) -> list[str]:
    """The entry as spoken sentences, its headword first ("Ethernet.")."""
    body = _body(dictionary, read_entry(dictionary, headword))
    sentences = [f"{headword}."]
    for para in body.split("\n"):
        sentences += _split_sentences(_clean(para))
    return [s for s in sentences if s == sentences[0] or _spoken(s)]


def _spoken(sentence: str) -> bool:
    """False for what a speaker would skip: link fragments ("The UNIX Reference Desk ("), cross-reference
    lists, manual-page pointers and bibliographic citations ("[Postel, Jon, ..., RFC 768, ... 1980].")."""
    if len(sentence.split()) < 3 or sentence.count("(") > sentence.count(")") or sentence[-1] not in ".!?\"')":
        return False
    if re.match(r"(See also|Compare|Antonym of|Unix manual page)\b", sentence):
        return False
    bracketed = sentence[0] in "[(" and (sentence.rstrip(".")[-1] in ")]" or not re.search(r"[)\]]", sentence))
    citation = bracketed and sentence.count(",") >= 2 and re.search(r"\b(1[89]|20)\d\d\b", sentence)
    return not citation
