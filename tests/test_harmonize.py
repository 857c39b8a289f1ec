"""harmony.harmonize: mask matching, job planning, the error policy of a folder run, the summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harmony import io as hio
from harmony.errors import InputError
from harmony.harmonize import HarmonizeSummary, find_mask, harmonize_paths, plan_jobs
from harmony.registry import METHODS


def _pair(size=(24, 32), seed=0):
    rng = np.random.default_rng(seed)
    image = rng.uniform(0.1, 0.9, (*size, 3)).astype(np.float32)
    mask = np.zeros(size, np.float32)
    mask[4:16, 6:20] = 1
    return image, mask


@pytest.fixture
def folder(tmp_path):
    """Composites c1_1_1, c1_1_2 (mask c1_1.png by the iHarmony4 rule), c2_5_1 (no mask), c3_1_1 (mask of
    another size), all PNG so the pixels are exact."""
    comps, masks = tmp_path / "composites", tmp_path / "masks"
    comps.mkdir()
    masks.mkdir()
    for i, name in enumerate(["c1_1_1", "c1_1_2", "c2_5_1", "c3_1_1"]):
        image, _mask = _pair(seed=i)
        hio.write_image(comps / f"{name}.png", image)
    hio.write_mask(masks / "c1_1.png", _pair()[1])
    hio.write_mask(masks / "c3_1.png", np.ones((10, 10), np.float32))
    return comps, masks


def test_find_mask_by_stem_then_the_iharmony4_rule(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "c100_7.png").write_bytes(b"")
    assert find_mask(Path("a.jpg"), tmp_path) == tmp_path / "a.png"
    assert find_mask(Path("c100_7_3.jpg"), tmp_path) == tmp_path / "c100_7.png"
    assert find_mask(Path("c100_8_3.jpg"), tmp_path) is None


def test_plan_jobs_pairs_composites_and_refuses_what_cannot_match(folder, tmp_path):
    comps, masks = folder
    jobs = plan_jobs(comps, masks, tmp_path / "out")
    assert [(j.composite.name, j.mask.name if j.mask else None, j.out.name, j.params_folder) for j in jobs] == [
        ("c1_1_1.png", "c1_1.png", "c1_1_1.png", "c1_1_1"), ("c1_1_2.png", "c1_1.png", "c1_1_2.png", "c1_1_2"),
        ("c2_5_1.png", None, "c2_5_1.png", "c2_5_1"), ("c3_1_1.png", "c3_1.png", "c3_1_1.png", "c3_1_1")]
    with pytest.raises(InputError, match="expected a folder of masks"):
        plan_jobs(comps, masks / "c1_1.png", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images found"):
        plan_jobs(tmp_path / "empty", masks, tmp_path / "out")
    with pytest.raises(InputError, match="no mask for c2_5_1.png"):
        plan_jobs(comps / "c2_5_1.png", masks, tmp_path / "o.png")
    [single] = plan_jobs(comps / "c1_1_2.png", masks, tmp_path / "o.png")
    assert (single.mask, single.out, single.params_folder) == (masks / "c1_1.png", tmp_path / "o.png", "")


def test_a_folder_run_lists_bad_images_and_goes_on(folder, tmp_path):
    comps, masks = folder
    out = tmp_path / "out"
    summary = harmonize_paths("reinhard", comps, masks, out, progress=False)
    assert (summary.written, summary.kept) == (2, 0)
    assert summary.failed == [
        ("c2_5_1.png", f"no mask: no mask for c2_5_1.png in {masks}"),
        ("c3_1_1.png", f"{masks / 'c3_1.png'}: mask is 10x10, composite c3_1_1.png is 32x24")]
    # The output is the method's own result on the pair, clipped and written as PNG.
    method = METHODS.create("reinhard")
    image, mask = hio.read_image(comps / "c1_1_2.png"), hio.read_mask(masks / "c1_1.png")
    expected = hio.read_image_uint8(out / "c1_1_2.png")
    assert np.array_equal(np.round(np.clip(method(image, mask), 0, 1) * 255), expected)
    # A second run keeps what exists.
    again = harmonize_paths("reinhard", comps, masks, out, progress=False)
    assert (again.written, again.kept, len(again.failed)) == (0, 2, 2)
    assert again.lines()[1] == "written 0, kept 2 existing (use --overwrite), failed 2"


def test_background_mode_runs_the_method_on_the_inverted_mask(folder, tmp_path):
    comps, masks = folder
    harmonize_paths("reinhard", comps / "c1_1_1.png", masks, tmp_path / "bg.png", background=True)
    image, mask = hio.read_image(comps / "c1_1_1.png"), hio.read_mask(masks / "c1_1.png")
    expected = np.round(np.clip(METHODS.create("reinhard")(image, 1.0 - mask), 0, 1) * 255)
    assert np.array_equal(expected, hio.read_image_uint8(tmp_path / "bg.png"))


def test_a_single_image_fails_loudly(folder, tmp_path):
    comps, masks = folder
    with pytest.raises(InputError, match="mask is 10x10"):
        harmonize_paths("reinhard", comps / "c3_1_1.png", masks, tmp_path / "x.png")
    with pytest.raises(InputError, match="not parametric"):
        harmonize_paths("reinhard", comps, masks, tmp_path / "x", export_params=tmp_path / "p")
    assert not (tmp_path / "x.png").exists()


def test_summary_lines():
    summary = HarmonizeSummary("dih", "ckpt/dih", True, Path("out"), "params/", written=4, kept=1,
                               failed=[("a.jpg", "no mask")], seconds=0.5)
    assert summary.lines() == [
        "method dih (checkpoint ckpt/dih) - background harmonization (inverted mask)",
        "written 4, kept 1 existing (use --overwrite), failed 1; 125 ms/image",
        "  failed a.jpg: no mask",
        "output: out",
        "parameters: params/ (curves.json, curves.png, shading.png; `harmony apply-params`)"]
