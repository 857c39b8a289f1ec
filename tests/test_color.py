"""harmony.color: one name per kernel, the iHarmony4 codes as aliases, and the colour conversions.

- The alias table maps the iHarmony4 codes (Cong et al., DoveNet, CVPR 2020) to the paper names, and
  every place a user names a method accepts either with identical results: ``harmony.color.transfer``,
  the generators' options, and ``harmony datagen coco|flickr --methods``. The generators record the
  iHarmony4 code (the dataset convention), so both spellings give byte-identical datasets.
- Conversions are checked against scikit-image (CIE L*a*b*) and the published formulas written out
  here (Reinhard et al. 2001 l-alpha-beta; Rec. 601 luma).
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import lab2rgb, rgb2lab

from harmony import color
from harmony.datagen import transfer as datagen_transfer
from harmony.datagen.coco import CocoOptions
from harmony.datagen.flickr import FlickrOptions
from harmony.errors import InputError
from tests.test_coco import _files, make_coco

# DoveNet (Cong et al. 2020), section 3: the four recipes and the papers they follow.
PAPER_NAMES = {"gct": "reinhard", "gctrgb": "xiao", "hgm": "fecker", "idt": "idt"}


def _pair(rng):
    target = rng.uniform(0.1, 0.9, (20, 26, 3)).astype(np.float32)
    mask = np.zeros((20, 26), np.float32)
    mask[4:16, 5:20] = 1.0
    mask[4, 5:20] = 0.4
    reference = np.clip(rng.uniform(0.0, 0.7, (18, 22, 3)) ** 1.3 + 0.1, 0, 1).astype(np.float32)
    return target, mask, reference, np.ones((18, 22), np.float32)


# --- names -----------------------------------------------------------------------------------------

def test_alias_table_maps_the_iharmony4_codes_to_the_paper_names():
    assert color.ALIASES == PAPER_NAMES
    assert set(color.KERNELS) == {"reinhard", "xiao", "fecker", "idt", "dih", "mkl"}
    for code, name in PAPER_NAMES.items():
        assert color.kernel_name(code) == name and color.kernel_name(name) == name
        assert color.iharmony4_code(name) == code and color.iharmony4_code(code) == code
    assert color.iharmony4_code("dih") == "dih" and color.iharmony4_code("mkl") == "mkl"  # no code
    with pytest.raises(ValueError, match="unknown colour-transfer method 'sepia'.*gct"):
        color.kernel_name("sepia")


@pytest.mark.parametrize("code", sorted(PAPER_NAMES))
def test_alias_and_paper_name_give_identical_output(code, rng):
    target, mask, reference, ref_mask = _pair(rng)
    options = {"rng": 3} if code == "idt" else {}
    by_code = color.transfer(code, target, mask, reference, ref_mask, **options)
    by_name = color.transfer(PAPER_NAMES[code], target, mask, reference, ref_mask, **options)
    direct = color.KERNELS[PAPER_NAMES[code]](target, mask, reference, ref_mask, **options)
    assert np.array_equal(by_code, by_name) and np.array_equal(by_code, direct)
    assert np.abs(by_code - target)[mask == 1].mean() > 1e-3          # it did recolour
    params = datagen_transfer.sample_params(code, 5)
    assert params == datagen_transfer.sample_params(PAPER_NAMES[code], 5)
    assert np.array_equal(datagen_transfer.transfer(code, target, mask, reference, ref_mask, **params),
                          datagen_transfer.transfer(PAPER_NAMES[code], target, mask, reference, ref_mask, **params))


def test_transfer_refuses_unknown_options(rng):
    target, mask, reference, ref_mask = _pair(rng)
    with pytest.raises(ValueError, match=r"unknown options \['strength'\]"):
        color.transfer("reinhard", target, mask, reference, ref_mask, strength=2)


def test_generator_options_record_the_iharmony4_codes():
    names = ("reinhard", "xiao", "fecker", "idt", "dih")
    codes = ("gct", "gctrgb", "hgm", "idt", "dih")
    assert datagen_transfer.dataset_codes(names) == codes
    assert CocoOptions(methods=names).methods == codes
    assert FlickrOptions(methods=names).methods == codes
    assert CocoOptions(methods=("xiao", "gct")).config()["methods"] == ["gctrgb", "gct"]   # order kept
    # mkl is a kernel but not a generator method: left as given, for the options' check to refuse
    assert datagen_transfer.dataset_codes(["mkl", "sepia"]) == ("mkl", "sepia")
    with pytest.raises(InputError, match="--methods: unknown mkl"):
        CocoOptions(methods=("mkl",)).check()


def test_datagen_coco_methods_by_code_or_paper_name_is_byte_identical(tmp_path, cli):
    images, annotations, _ = make_coco(tmp_path, n=4)
    outputs = {}
    for label, methods in (("codes", "gct,gctrgb,hgm"), ("papers", "reinhard,xiao,fecker"),
                           ("mixed", "gct,xiao,hgm")):
        out = tmp_path / label
        code, text = cli(["datagen", "coco", "--images", str(images), "--annotations", str(annotations),
                          "--out", str(out), "--methods", methods, "--per-object", "2", "--workers", "0",
                          "--quiet"])
        assert code == 0, text
        outputs[label] = _files(out)
    assert any(name.endswith(".jpg") for name in outputs["codes"])
    manifest = outputs["codes"]["HCOCO/manifest.csv"].decode()
    assert "reinhard" not in manifest and ("gct" in manifest or "hgm" in manifest)
    assert outputs["papers"] == outputs["codes"]
    assert outputs["mixed"] == outputs["codes"]


def test_datagen_flickr_methods_by_code_or_paper_name_is_byte_identical(tmp_path, cli):
    outputs = {}
    for label, methods in (("codes", "gct,hgm"), ("papers", "reinhard,fecker")):
        out = tmp_path / label
        code, text = cli(["datagen", "flickr", "--out", str(out), "--workers", "0", "--methods", methods,
                          "--quiet"])
        assert code == 0, text
        outputs[label] = _files(out)
    assert outputs["papers"] == outputs["codes"]


# --- conversions -----------------------------------------------------------------------------------

def test_lab_matches_scikit_image_and_inverts(rng):
    rgb = rng.uniform(0, 1, (7, 9, 3)).astype(np.float32)
    lab = color.rgb_to_lab(rgb)
    assert lab.shape == rgb.shape and lab.dtype == np.float32
    # OpenCV interpolates its float conversion in tables: within 0.3 of the exact CIE formulas
    np.testing.assert_allclose(lab, rgb2lab(rgb.astype(np.float64)), atol=0.3)
    np.testing.assert_allclose(color.lab_to_rgb(lab), rgb, atol=8e-3)   # round trip through the tables
    rows = rgb.reshape(-1, 3)                                   # a pixel list is converted as one row
    np.testing.assert_array_equal(color.rgb_to_lab(rows), lab.reshape(-1, 3))
    np.testing.assert_allclose(color.lab_to_rgb(lab.reshape(-1, 3)), lab2rgb(lab.astype(np.float64)).reshape(-1, 3),
                               atol=1e-3)


def test_lalphabeta_is_reinhards_formula(rng):
    rgb = rng.uniform(0.02, 1, (50, 3))
    # Reinhard et al. 2001, Eq. 4 (RGB -> LMS), Eq. 5 (log10), Eq. 6 (decorrelating matrix)
    lms = rgb @ np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]]).T
    log_lms = np.log10(lms)
    l_channel = (log_lms[:, 0] + log_lms[:, 1] + log_lms[:, 2]) / np.sqrt(3)
    alpha = (log_lms[:, 0] + log_lms[:, 1] - 2 * log_lms[:, 2]) / np.sqrt(6)
    beta = (log_lms[:, 0] - log_lms[:, 1]) / np.sqrt(2)
    got = color.rgb_to_lalphabeta(rgb)
    np.testing.assert_allclose(got, np.stack([l_channel, alpha, beta], 1), rtol=0, atol=1e-12)
    # the paper's LMS -> RGB matrix (Eq. 9) is the inverse to its 4 printed decimals
    np.testing.assert_allclose(color.lalphabeta_to_rgb(got), rgb, atol=2e-3)


def test_luminance_is_rec601_luma():
    rgb = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.5]])
    np.testing.assert_allclose(color.luminance(rgb), [0.299, 0.587, 0.114, 0.5], atol=1e-12)


@pytest.mark.parametrize("module", ["harmony.color", "harmony.color.conversions", "harmony.color.statistics",
                                    "harmony.color.histogram", "harmony.color.distribution",
                                    "harmony.color.methods", "harmony.datagen.transfer"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), extraglobs={"np": np}, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{module}: {result.failed} of {result.attempted} examples failed"
