"""Values in and out: number formatting, JSON conversion, and parsing values from users."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adcli.engine.inputs import EXPECTED, load_inputs, parse_assignments, parse_value
from adcli.errors import InputError
from adcli.limits import MAX_DIMENSIONS
from adcli.numbers import dumps, format_number, format_value, to_json

# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("x, text", [
    (18.0, "18"), (-3.0, "-3"), (0.0, "0"), (306, "306"), (np.float64(35.0), "35"),
    (0.5, "0.5"), (0.1, "0.1"), (1 / 3, "0.3333333333333333"), (-2.25, "-2.25"),
    (1e16, "1e+16"), (9007199254740993.0, "9007199254740992"), (1e-7, "1e-07"), (1.5e300, "1.5e+300"),
    (float("nan"), "nan"), (float("inf"), "inf"), (float("-inf"), "-inf"),
    (np.array(7.0), "7"),
])
def test_format_number(x, text):
    assert format_number(x) == text


def test_format_number_is_exact():
    for x in (0.1 + 0.2, np.pi, 4.248354255291589e-18, 2.0 ** -1074):
        assert float(format_number(x)) == x


def test_format_value():
    assert format_value(7.0) == "7"
    assert format_value(np.array(2.5)) == "2.5"
    assert format_value([1.0, 2.5, -3.0]) == "[1, 2.5, -3]"
    assert format_value([[1.0, 2.0], [3.0, 4.0]]) == "[[1, 2], [3, 4]]"
    assert format_value([np.nan, np.inf, -np.inf]) == "[nan, inf, -inf]"
    assert format_value(np.zeros((0,))) == "[]"
    assert "\n" not in format_value(np.arange(60.0).reshape(3, 4, 5))


def test_format_value_abbreviates_large_arrays_unless_full():
    big = np.arange(2000.0)
    short = format_value(big)
    assert short == "[0, 1, 2, ..., 1997, 1998, 1999]"
    full = format_value(big, full=True)
    assert "..." not in full and full.startswith("[0, 1, 2, 3,") and full.endswith("1998, 1999]")
    assert len(json.loads(full)) == 2000


@pytest.mark.parametrize("value, expected", [
    (7.0, 7.0), (np.float64(-1.5), -1.5), (np.array(3.0), 3.0), (2, 2.0),
    (float("nan"), "NaN"), (float("inf"), "Infinity"), (float("-inf"), "-Infinity"),
    ([1.0, 2.0], [1.0, 2.0]), (np.array([[1, 2], [3, 4]]), [[1.0, 2.0], [3.0, 4.0]]),
    ([1.0, np.nan, np.inf, -np.inf], [1.0, "NaN", "Infinity", "-Infinity"]),
    (np.array([[np.nan], [0.5]]), [["NaN"], [0.5]]),
    (np.zeros((0,)), []), (np.zeros((2, 0)), [[], []]),
])
def test_to_json(value, expected):
    out = to_json(value)
    assert out == expected
    assert json.loads(dumps(out)) == expected


def test_to_json_gives_python_floats():
    assert type(to_json(np.float64(7.0))) is float
    assert all(type(x) is float for x in to_json(np.array([1, 2])))
    assert dumps({"value": to_json(np.float64(7.0))}) == '{"value": 7.0}'


def test_dumps_is_strict_and_ascii():
    with pytest.raises(ValueError):
        dumps(float("nan"))
    assert dumps({"∂y": 1.0}) == '{"\\u2202y": 1.0}'
    assert dumps({"b": 1.0, "a": 2.0}) == '{"b": 1.0, "a": 2.0}'  # insertion (input) order kept


# ---------------------------------------------------------------------------------------------
# Parsing values given on the command line
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2", 2.0), ("-1.5e3", -1500.0), ("  3  ", 3.0), ("0", 0.0),
    ("[1, 2, 3]", [1.0, 2.0, 3.0]), ("[[1,2],[3,4]]", [[1.0, 2.0], [3.0, 4.0]]),
    ("[[1.5], [-2e-3]]", [[1.5], [-0.002]]), ("[]", []), ("[[], []]", [[], []]),
    # what the language accepts for a number, parsed by adcli's own grammar
    (".5", 0.5), ("+1", 1.0), ("1e-3", 0.001), ("pi", np.pi), ("e", np.e), ("-inf", -np.inf), ("1/2", 0.5),
    ("2**-3", 0.125), ("1 + 1", 2.0), ("[1, 2*pi]", [1.0, 2 * np.pi]), ("-pi/2", -np.pi / 2),
    # the infinities as Python's json module writes them
    ("Infinity", np.inf), ("-Infinity", -np.inf), ("[1, -Infinity, Infinity]", [1.0, -np.inf, np.inf]),
])
def test_parse_value(text, expected):
    value = parse_value(text, "--set x")
    assert isinstance(value, np.ndarray) and value.dtype == np.float64
    assert value.tolist() == expected


def test_empty_list_is_an_empty_vector():
    assert parse_value("[]", "--set x").shape == (0,)


@pytest.mark.parametrize("text, phrase", [
    ("[[1, 2], [3]]", "--set x: the nested lists are ragged (rows of different lengths)"),
    ("[1, [2]]", "--set x: the nested lists are ragged"),
    ("true", "--set x: true is not a number; expected " + EXPECTED),
    ("false", "--set x: false is not a number"),
    ("[1, true]", "--set x: true is not a number"),
    ('"3"', '--set x: "3" is not a number'),
    ("null", "--set x: null is not a number"),
    ("{}", "--set x: expected " + EXPECTED + ", not a JSON object"),
    ("NaN", "--set x: NaN is not allowed"),
    ("[1, NaN]", "--set x: NaN is not allowed"),
    ("-NaN", "--set x: 'NaN' is not a number"),
    ("0/0", "--set x: 0/0 is not a number (NaN)"),
    ("1e999", "--set x: a number is too large for float64"),
    ("[1, 2", "--set x: '[' is never closed"),
    ("[1,,2]", "--set x: unexpected ','; expected an expression (at character 4)"),
    ("0x10", "--set x: unexpected name 'x10'"),
    ("1 +", "--set x: unexpected end of"),
    ("abc", "--set x: 'abc' is not a number; expected " + EXPECTED),
    ("__import__('os')", "--set x: unknown function '__import__'"),
    ("1\u0660 5", "--set x: unexpected character '\u0660' (U+0660)"),
    ("\uff11\uff12", "--set x: unexpected character '\uff11' (U+FF11)"),
    ("x", "--set x: 'x' is not a number"),
    ("exp", "--set x: 'exp' is a function"),
])
def test_parse_value_rejects(text, phrase):
    with pytest.raises(InputError) as info:
        parse_value(text, "--set x")
    assert phrase in info.value.message, info.value.message
    assert info.value.span is None


def test_deep_nesting_is_rejected_cleanly():
    for deep in ("[" * 100_000 + "1" + "]" * 100_000, '{"a":' * 2000 + "1" + "}" * 2000):
        with pytest.raises(InputError) as info:
            parse_value(deep, "--set x")
        assert "levels deep; arrays have at most 32 dimensions" in info.value.message
    # The limit itself is fine.
    ok = "[" * MAX_DIMENSIONS + "1" + "]" * MAX_DIMENSIONS
    assert parse_value(ok, "--set x").shape == (1,) * MAX_DIMENSIONS


def test_5000_digit_number_is_rejected_cleanly():
    with pytest.raises(InputError, match="--set x: a number is too large for float64"):
        parse_value("9" * 5000, "--set x")
    with pytest.raises(InputError, match="too large for float64"):
        parse_value("[1, -" + "9" * 5000 + "]", "--set x")


def test_parse_assignments():
    values = parse_assignments(["W=[[1, 2], [3, 4]]", "x = 3", "b=-1"])
    assert list(values) == ["W", "x", "b"]
    assert values["W"].tolist() == [[1.0, 2.0], [3.0, 4.0]] and float(values["x"]) == 3.0
    assert float(values["b"]) == -1.0
    assert parse_assignments([]) == {}


@pytest.mark.parametrize("items, message", [
    (["x"], "--set 'x': expected NAME=VALUE, such as x=3 or W=[[1, 2], [3, 4]]"),
    (["=3"], "--set '=3': expected NAME=VALUE"),
    (["x="], "--set 'x=': no value after '='; expected " + EXPECTED),
    (["x=1", "x=2"], "--set 'x=2': 'x' is given more than once"),
    (["1x=2"], "--set '1x=2': '1x' is not a valid name"),
    (["x=3=4"], "--set x: unexpected '='"),
    (["x=abc"], "--set x: 'abc' is not a number"),
    (["\x1b]0;pwned\x07=1"], "--set '\\x1b]0;pwned\\x07=1'"),
])
def test_parse_assignments_rejects(items, message):
    with pytest.raises(InputError) as info:
        parse_assignments(items)
    assert info.value.message.startswith(message), info.value.message
    assert "\x1b" not in info.value.message and "\x07" not in info.value.message


# ---------------------------------------------------------------------------------------------
# Values from files
# ---------------------------------------------------------------------------------------------

def test_load_inputs_json(tmp_path):
    path = tmp_path / "values.json"
    path.write_text('{"W": [[1, 2]], "b": 3}')
    values = load_inputs(str(path))
    assert list(values) == ["W", "b"]
    assert values["W"].tolist() == [[1.0, 2.0]] and values["W"].dtype == np.float64
    assert values["b"].shape == ()
    path.write_bytes(b'\xef\xbb\xbf{"b": 3}')  # a byte-order mark first
    assert load_inputs(str(path))["b"] == 3.0


def test_load_inputs_npz_and_npy(tmp_path):
    path = tmp_path / "values.NPZ"  # the suffix in any case
    with open(path, "wb") as f:
        np.savez(f, W=np.array([[1, 2]]), b=np.float32(3.5))
    values = load_inputs(str(path))
    assert values["W"].tolist() == [[1, 2]] and values["W"].dtype == np.int64  # exact for int inputs
    assert float(values["b"]) == 3.5 and values["b"].dtype == np.float64 and values.widened == ["b"]
    np.save(tmp_path / "one.npy", np.arange(3.0))
    assert list(load_inputs(str(tmp_path / "one.npy")).values())[0].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("name, content, phrase", [
    ("list.json", "[1, 2]", "expected a JSON object of name -> value"),
    ("bad.json", '{"x": ', "not valid JSON"),
    ("nan.json", '{"x": NaN}', "NaN is not allowed"),
    ("ragged.json", '{"x": [[1], [2, 3]]}', "x: the nested lists are ragged"),
    ("text.json", '{"x": "1"}', 'x: "1" is not a number'),
    ("bool.json", '{"x": [true]}', "x: true is not a number"),
    ("deep.json", '{"x": ' + "[" * 100_000 + "1" + "]" * 100_000 + "}", "nested 100001 levels deep"),
    ("deep70.json", '{"x": ' + "[" * 70 + "1" + "]" * 70 + "}", "nested 71 levels deep"),
    ("objects.json", '{"a":' * 2000 + "1" + "}" * 2000, "nested 2000 levels deep"),
    ("big.json", '{"x": ' + "9" * 5000 + "}", "x: a number is too large for float64"),
    ("latin.json", b'{"x": "\xe9"}', "not UTF-8 text (byte 0xe9"),
    ("escape.json", '{"\\u001b[2J": [true]}', "\\x1b[2J: true is not a number"),
])
def test_load_inputs_rejects_json(tmp_path, name, content, phrase):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError) as info:
        load_inputs(str(path))
    assert info.value.message.startswith(f"--inputs {path}")
    assert phrase in info.value.message, info.value.message
    assert "\x1b" not in info.value.message


@pytest.mark.parametrize("array, phrase", [
    (np.array([np.nan]), "x: holds NaN values; give numbers"),
    (np.array(["a"]), "x: holds <U1 values; expected numbers"),
    (np.array([True]), "x: holds bool values; expected numbers"),
    (np.array([1j]), "x: holds complex128 values; expected numbers"),
])
def test_load_inputs_rejects_npz(tmp_path, array, phrase):
    path = tmp_path / "values.npz"
    np.savez(path, x=array)
    with pytest.raises(InputError) as info:
        load_inputs(str(path))
    assert phrase in info.value.message


def damaged_npz(tmp_path, kind):
    """An .npz damaged in one of the ways files are damaged."""
    import zipfile
    path = tmp_path / f"{kind}.npz"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        np.savez(path, x=np.arange(100.0))
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "npy-renamed":
        np.save(tmp_path / "a.npy", np.arange(3.0))
        path.write_bytes((tmp_path / "a.npy").read_bytes())
    elif kind == "not-an-array":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("x.npy", b"hello")
    elif kind == "directory":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("x/", b"")
    elif kind == "huge-header":
        header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000,), }"
        header += " " * (118 - len(header)) + "\n"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("x.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
    elif kind == "pickle":
        np.savez(path, x=np.array([{"a": 1}], dtype=object))
    return path


@pytest.mark.parametrize("kind, phrase", [
    ("empty", "not an .npz archive"), ("truncated", "not an .npz archive"), ("npy-renamed", "not an .npz archive"),
    ("not-an-array", "x: not a .npy array"), ("directory", "x/: is not an array"),
    ("huge-header", "x: the array would have shape [100000000000]: 745 GiB, over the limit"),
    ("pickle", "x: holds object values; expected numbers"),
])
def test_damaged_npz_is_one_clear_error(tmp_path, kind, phrase):
    with pytest.raises(InputError) as info:
        load_inputs(str(damaged_npz(tmp_path, kind)))
    assert phrase in info.value.message, info.value.message
    assert "allow_pickle" not in info.value.message


def test_load_inputs_missing_unreadable_or_endless(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_inputs(str(tmp_path / "missing.json"))
    with pytest.raises(InputError, match="no such file"):
        load_inputs(str(tmp_path / "missing.npz"))
    with pytest.raises(InputError, match="is a directory"):
        load_inputs(str(tmp_path))
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    with pytest.raises(InputError, match="is not a regular file"):
        load_inputs(str(tmp_path / "zero.json"))
