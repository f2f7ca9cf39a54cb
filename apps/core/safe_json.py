"""JSON from users: bounded size and nesting depth, no NUL characters.

Python's json module recurses once per nesting level, so `[[[[...]]]]` a hundred thousand deep
ends in RecursionError (a 500) before any serializer sees it, and PostgreSQL refuses text with
NUL characters (another 500, at query time). The depth is measured on the raw text first (a
regular expression skips strings; only brackets are counted), then the text is parsed.
"""
from __future__ import annotations

import json
import re
from itertools import accumulate

DEFAULT_MAX_BYTES = 5_000_000
DEFAULT_MAX_DEPTH = 32

# A JSON string (with escapes) or one bracket; strings are matched whole so brackets inside
# them are never counted. An unclosed string runs to the end of the text in one match: without
# `\Z` the engine backtracked from every later quote, quadratic in the body size (80 KB: 13 s).
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\Z)|[\[\]{}]', re.S)
_BRACKETS = re.compile(r"[\[\]{}]")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonRejected(ValueError):
    """The text is not JSON we accept; `path` names the place at fault when known."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(message)
        self.path = path


def check_depth(text: str, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Linear and in C: escaped backslashes, then escaped quotes are dropped (the lexer pairs a run
    of backslashes from its left, as str.replace does), so every remaining quote opens or closes
    a string; the even pieces between quotes are outside strings and only their brackets count.
    (Not JSON at all, e.g. a backslash outside a string, is refused by the parser after this.)"""
    outside = "".join(text.replace("\\\\", "").replace('\\"', "").split('"')[::2])
    brackets = _BRACKETS.findall(outside)
    if len(brackets) > max_depth and max(accumulate(map(_DEPTH_STEP.__getitem__, brackets))) > max_depth:
        raise JsonRejected(f"JSON nested deeper than {max_depth} levels.")


def find_nul(value, path: str = "") -> str | None:
    """The path ('labels[2]', 'params.argv[0]') of the first string or key with a NUL, or None."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return where or "body"
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if "\x00" in key:
                    return child_path.replace("\x00", "\\0")
                stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
    return None


def loads(text: str, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH):
    """Parse JSON within the limits above; JsonRejected for anything else."""
    if len(text) > max_bytes:
        raise JsonRejected(f"The JSON is larger than {max_bytes} bytes.")
    check_depth(text, max_depth)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise JsonRejected(f"Not valid JSON: {exc}") from None
    # A NUL can only come from the escape \u0000: JSON strings may not hold raw control characters.
    where = find_nul(data) if "\\u0000" in text else None
    if where is not None:
        raise JsonRejected("Text may not contain NUL (\\u0000) characters.", path=where)
    return data
