"""One way to write a file: the whole new content or the old, never half of either."""

import json
import stat

import pytest

from gpt_lesson import _files as files


def test_a_write_replaces_the_file_whole_and_readable_by_all(tmp_path):
    path = tmp_path / "folder" / "summary.json"
    files.write_json(path, {"loss": 1.5}, indent=2)
    files.write_json(path, {"loss": 0.5}, indent=2)
    assert json.loads(path.read_text(encoding="utf-8")) == {"loss": 0.5}
    assert path.read_text(encoding="utf-8").endswith("}\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["summary.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"good")
    with pytest.raises(RuntimeError, match="killed"), files.replaced_atomically(path) as temporary:
        temporary.write_bytes(b"ha")
        raise RuntimeError("killed half-way")
    assert path.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.bin"]


def test_the_temporary_name_ends_with_the_suffix_a_writer_needs(tmp_path):
    with files.replaced_atomically(tmp_path / "model.weights.h5", suffix=".weights.h5") as t:
        assert t.name.endswith(".weights.h5") and t.parent == tmp_path
        t.write_bytes(b"x")
    assert (tmp_path / "model.weights.h5").read_bytes() == b"x"
