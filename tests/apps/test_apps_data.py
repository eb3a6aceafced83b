"""The data layer of the apps: features are keyed by what they were computed from, and a missing,
empty or broken corpus is one line naming it (never stale features, never a traceback)."""

import numpy as np
import pytest
import soundfile as sf

from rnnaccel.apps.config import DataConf
from rnnaccel.apps.data import load_split, source_fingerprint
from rnnaccel.errors import RnnaccelError

from .conftest import fsdd_root, have_fsdd

pytestmark = pytest.mark.skipif(not have_fsdd(), reason="needs the FSDD recordings (shared data root)")


def data(root, tmp_path, **kw) -> DataConf:
    return DataConf(root=str(root), num_test=3, cache_dir=str(tmp_path / "cache"), **kw)


def test_another_root_never_reuses_cached_features(tmp_path):
    good = fsdd_root(tmp_path / "good")
    ds = load_split(data(good, tmp_path), "test")
    assert len(ds) == 3 and len(list((tmp_path / "cache").iterdir())) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RnnaccelError, match=f"data.root={empty}: .*point data.root at the corpus"):
        load_split(data(empty, tmp_path), "test")  # today: the cached features of `good`


def test_fingerprint_follows_the_files(tmp_path):
    a, b = fsdd_root(tmp_path / "a"), fsdd_root(tmp_path / "b")
    fa, fb = source_fingerprint(data(a, tmp_path)), source_fingerprint(data(b, tmp_path))
    assert fa["files"] == fb["files"] and fa["root"] != fb["root"]
    victim = sorted((b / "fsdd" / "recordings").iterdir())[0]
    victim.unlink()
    assert source_fingerprint(data(b, tmp_path))["files"] != fb["files"]


@pytest.mark.parametrize("damage", ["random_bytes", "nan_samples", "empty_file"])
def test_a_broken_recording_is_one_line_naming_the_file(tmp_path, damage):
    root = fsdd_root(tmp_path / "r")
    for f in (root / "fsdd" / "recordings").iterdir():  # every recording: the first utterance meets one
        f.unlink()
        if damage == "random_bytes":
            f.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8)))
        elif damage == "nan_samples":
            sf.write(f, np.full(800, np.nan, dtype=np.float32), 8000, subtype="FLOAT")
        else:
            f.write_bytes(b"")
    with pytest.raises(RnnaccelError) as e:
        load_split(DataConf(root=str(root), num_test=3, cache_dir=None), "test")
    msg = str(e.value)
    assert str(root) in msg and msg.endswith("replace or remove that file") and "\n" not in msg, msg
