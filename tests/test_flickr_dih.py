"""`datagen flickr` -> `train dih`: the label maps the flickr generator writes (``HFlickr/labels/<real
stem>.png``) switch on DIH's joint scene-parsing decoder (DIH: Tsai et al., CVPR 2017, section 3.3), while
a dataset without label maps (`datagen coco`) trains the plain encoder-decoder.

Fast: the embedded samples, the ``dih_tiny`` preset (64x64), 2 steps of batch 2.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from harmony import io as hio

TRAIN = ["--preset", "dih_tiny", "--steps", "2", "--batch-size", "2", "--val-every", "2", "--val-limit", "1",
         "--quiet"]


def _log(ckpt: Path) -> list[dict]:
    with open(ckpt / "train_log.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _config(ckpt: Path) -> dict:
    return json.loads((ckpt / "config.json").read_text())


def test_dih_uses_flickr_label_maps_and_not_coco(cli, tmp_path):
    flickr = tmp_path / "flickr"
    code, text = cli(["datagen", "flickr", "--out", str(flickr), "--workers", "0", "--methods", "gct,hgm",
                      "--quiet"])
    assert code == 0, text
    maps = sorted((flickr / "HFlickr" / "labels").glob("*.png"))
    assert maps, text
    # independent expectation: ids 0..max of the written maps (none is 255 = unlabelled here)
    expected_classes = max(int(hio.read_label_map(p).max()) for p in maps) + 1

    # the trainer finds a label map for every training pair
    from harmony.models.train import load_split

    data = load_split(flickr, "train", 64, with_labels=True)
    assert data.labels is not None and len(data) > 0
    assert (data.labels != 255).all()
    assert data.num_classes == expected_classes

    ck = tmp_path / "ck_flickr"
    code, text = cli(["train", "dih", "--data", str(flickr), "--out", str(ck), *TRAIN])
    assert code == 0, text
    assert _config(ck)["args"]["num_classes"] == expected_classes
    rows = _log(ck)
    assert "cro" in rows[0], rows[0]                                # parsing cross-entropy is logged
    cro = float(rows[0]["cro"])                                     # joint stage (first half of the steps)
    assert math.isfinite(cro) and cro > 0
    # total = lambda1 * rec + lambda2 * cro with lambda1 = 1, lambda2 = 100 (paper)
    np.testing.assert_allclose(float(rows[0]["total"]), float(rows[0]["rec"]) + 100 * cro, rtol=1e-4)
    assert rows[-1]["cro"] == ""                                    # then fine-tuning, parsing decoder fixed

    coco = tmp_path / "coco"
    code, text = cli(["datagen", "coco", "--out", str(coco), "--workers", "0", "--quiet"])
    assert code == 0, text
    assert not any((coco / sub / "labels").exists() for sub in ("HCOCO",))
    ck2 = tmp_path / "ck_coco"
    code, text = cli(["train", "dih", "--data", str(coco), "--out", str(ck2), *TRAIN])
    assert code == 0, text
    assert _config(ck2)["args"]["num_classes"] == 0
    rows2 = _log(ck2)
    assert "cro" not in rows2[0]
    np.testing.assert_allclose([float(r["total"]) for r in rows2], [float(r["rec"]) for r in rows2], rtol=1e-5)
