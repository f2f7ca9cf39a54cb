"""safe_json: the depth scan counts only brackets outside strings (escapes included), and NUL
is found wherever the text escapes one."""
import json

import pytest

from apps.core import safe_json


def nested(depth: int, inner="1"):
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize("text", [
    nested(4),
    json.dumps({"a": "[[[[[[[[", "b": [["]]]]]]"]]}),  # brackets in strings count for nothing
    json.dumps(['\\"[[[[[[', '\\', "x\\\\\"{{{{{{"]),  # escaped quotes and backslashes around them
    json.dumps({'k"[[[[[[': [1]}),
])
def test_brackets_inside_strings_do_not_count(text):
    assert safe_json.loads(text, max_depth=4) == json.loads(text)


@pytest.mark.parametrize("text", [
    nested(5),
    json.dumps(["]]]]", [[[[1]]]]]),  # closing brackets in a string do not hide the depth
    json.dumps(['\\"', [[[[{"a": 1}]]]]]),
])
def test_one_level_too_deep_is_refused(text):
    with pytest.raises(safe_json.JsonRejected, match="nested deeper"):
        safe_json.loads(text, max_depth=4)


def test_a_nul_is_found_by_path_and_an_escaped_backslash_is_not_one():
    with pytest.raises(safe_json.JsonRejected) as exc:
        safe_json.loads('{"a": [1, {"b": "x\\u0000"}]}')
    assert exc.value.path == "a[1].b"
    assert safe_json.loads('{"a": "\\\\u0000"}') == {"a": "\\u0000"}
