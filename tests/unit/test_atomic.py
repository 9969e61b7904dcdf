import os

import pytest

from cmkd_plugin.engine.atomic import AtomicOutputs, atomic_output, check_writable, partial_files
from cmkd_plugin.engine.errors import InputError


def test_commit_renames_file_and_sidecars(tmp_path):
    final = tmp_path / "classes.tif"
    with AtomicOutputs() as outs:
        tmp = outs.add(final)
        assert tmp.parent == tmp_path and tmp.name.startswith(".classes.") and tmp.suffix == ".tif"
        tmp.write_bytes(b"raster")
        tmp.with_name(tmp.name + ".aux.xml").write_text("<PAMDataset/>")
        tmp.with_suffix(".qml").write_text("<qgis/>")
        assert not final.exists()  # nothing visible under the final name before the end
    assert final.read_bytes() == b"raster"
    assert (tmp_path / "classes.tif.aux.xml").read_text() == "<PAMDataset/>"
    assert (tmp_path / "classes.qml").read_text() == "<qgis/>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classes.qml", "classes.tif",
                                                         "classes.tif.aux.xml"]


def test_failure_discards_everything_and_keeps_previous_output(tmp_path):
    final = tmp_path / "rate.tif"
    final.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with AtomicOutputs() as outs:
            outs.add(final).write_bytes(b"half")
            outs.add(tmp_path / "other.gpkg").write_bytes(b"half")
            raise RuntimeError("boom")
    assert final.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rate.tif"]


def test_group_is_not_committed_when_one_output_is_missing(tmp_path):
    with pytest.raises(RuntimeError, match="registered but not written"):
        with AtomicOutputs() as outs:
            outs.add(tmp_path / "a.tif").write_bytes(b"a")
            outs.add(tmp_path / "b.tif")
    assert list(tmp_path.iterdir()) == []


def test_partial_files_finds_leftovers_of_a_killed_run(tmp_path):
    final = tmp_path / "out.json"
    outs = AtomicOutputs()
    outs.add(final).write_text("{")
    assert len(partial_files(final)) == 1
    assert partial_files(tmp_path / "missing-folder" / "x.tif") == []


def test_check_writable_messages(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        check_writable(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere")  # root ignores modes
        with pytest.raises(InputError, match="permission denied"):
            check_writable(ro / "x.tif")
    finally:
        ro.chmod(0o700)
    with pytest.raises(InputError, match="Cannot create the output folder"):
        check_writable("/proc/cmkd/x.tif")


def test_atomic_output_shortcut(tmp_path):
    with atomic_output(tmp_path / "r.html") as tmp:
        tmp.write_text("<html/>")
    assert (tmp_path / "r.html").read_text() == "<html/>"
