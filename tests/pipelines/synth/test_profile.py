"""The profiler: JSON types (numbers in strings), bad lines by reason, side-by-side output."""

from __future__ import annotations

from pathlib import Path

from pipelines.synth.profile import format_profiles, json_type, profile_file


def test_json_types() -> None:
    assert [json_type(v) for v in ["1.5", "abc", 1, 1.5, True, None, [], {}, "", "nan"]] == [
        "numstr", "string", "int", "float", "bool", "null", "list", "object", "string", "string",
    ]  # fmt: skip


def test_profile_counts_bad_lines_by_reason(tmp_path: Path) -> None:
    dump = tmp_path / "d.jsonl"
    dump.write_bytes(
        b'{"code": "1", "n": "2"}\n[1]\n42\n{"code": \n\n{"code": "\xff"}\n{"code": "3", "n": 4}\n'
    )
    profile = profile_file(dump)
    assert profile.lines == 7
    assert profile.documents == 2
    assert profile.bad_lines == {
        "not_an_object:list": 1,
        "not_an_object:int": 1,
        "invalid_json": 1,
        "empty": 1,
        "invalid_utf8": 1,
    }
    assert profile.rate("n") == 1.0
    assert profile.type_share("n", "numstr") == 0.5
    assert profile.to_dict()["fields"]["n"]["types"] == {"numstr": 0.5, "int": 0.5}


def test_side_by_side(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"code": "1", "only_a": 1}\n')
    b.write_text('{"code": "1", "only_b": [1]}\n')
    text = format_profiles([profile_file(a), profile_file(b)])
    rows = {line.split("|")[0].strip(): line for line in text.splitlines() if "|" in line}
    assert "only_a" in rows and "only_b" in rows
    assert rows["only_a"].split("|")[2].strip().startswith("-")  # absent from the second file
    assert "list:100" in rows["only_b"]
