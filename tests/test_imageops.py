"""The contract checks of harmony.imageops (the array contract: float32 in [0, 1]): bad values never pass silently."""

import numpy as np
import pytest

from harmony.imageops import binarize, check_image, check_mask, dilate, fg_ratio


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -0.01, 1.01])
def test_out_of_range_or_non_finite_values_are_refused(bad):
    img = np.zeros((3, 4, 3), np.float32)
    img[1, 2, 0] = bad
    with pytest.raises(ValueError, match="expected values in \\[0, 1\\]"):
        check_image(img)
    mask = np.zeros((3, 4), np.float32)
    mask[1, 2] = bad
    with pytest.raises(ValueError, match="expected values in \\[0, 1\\]"):
        check_mask(mask)


def test_valid_inputs_pass_and_wrong_shapes_or_dtypes_are_named():
    check_image(np.ones((2, 2, 3), np.float32))
    check_mask(np.zeros((2, 2), np.float32), (2, 2))
    with pytest.raises(ValueError, match="float32"):
        check_image(np.ones((2, 2, 3), np.float64))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        check_image(np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="to match the image"):
        check_mask(np.zeros((2, 3), np.float32), (2, 2))


def test_fg_ratio_dilate_binarize_by_hand():
    m = np.zeros((10, 10), np.float32)
    m[4:6, 4:6] = 0.6          # 4 pixels above 0.5
    m[0, 0] = 0.5              # exactly 0.5 is background (community rule: mask > 0.5)
    assert fg_ratio(m) == pytest.approx(4 / 100)
    assert binarize(m).sum() == 4
    d = dilate(m, 1)           # radius 1: OpenCV's 3x3 ellipse is a cross, so the 2x2 square grows a
    assert d.sum() == 12       # pixel on each side (4 + 4 * 2) and not into the diagonal corners
    assert d[3, 3] == 0 and d[3, 6] == 0 and d[6, 3] == 0 and d[6, 6] == 0 and d[3, 4] == 1
