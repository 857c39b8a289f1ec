"""The bounded placement search (SPRIH section 3.2: foreground j maximally contained in foreground i's box)."""

from __future__ import annotations

import math

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from harmony.datagen.placement import PlacementGrid, composite, place  # noqa: E402


def _bar(shape, centre, length, thickness, angle_deg):
    """A filled rotated rectangle (a 'bar') drawn with OpenCV's polygon fill."""
    m = np.zeros(shape, np.uint8)
    box = cv2.boxPoints(((centre[0], centre[1]), (length, thickness), angle_deg))
    cv2.fillPoly(m, [np.round(box).astype(np.int32)], 1)
    return m.astype(np.float32)


def _brute_force_best(mask, box, shape, grid):
    """Independent exhaustive search: every (scale, angle) of the documented grid and *every* integer
    offset keeping the warped mask inside the image. Each grid point's warp follows the documented
    recipe (bilinear rotation/scale about the crop centre onto a canvas of ceil(rotated extent) + 2 px,
    threshold 0.5), rebuilt here from cv2.getRotationMatrix2D."""
    y0, x0, y1, x1 = box
    H, W = shape
    ys, xs = np.nonzero(mask > 0.5)
    crop = (mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1] > 0.5).astype(np.float32)
    h, w = crop.shape
    best = 0.0
    for s in grid.scales():
        for a in grid.angles():
            r = math.radians(a)
            cw = int(math.ceil(s * (w * abs(math.cos(r)) + h * abs(math.sin(r))))) + 2
            ch = int(math.ceil(s * (w * abs(math.sin(r)) + h * abs(math.cos(r))))) + 2
            m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), a, s)
            m[0, 2] += (cw - 1) / 2 - (w - 1) / 2
            m[1, 2] += (ch - 1) / 2 - (h - 1) / 2
            warped = cv2.warpAffine((crop * 255).astype(np.uint8), m, (cw, ch), flags=cv2.INTER_LINEAR) > 127
            rr = np.nonzero(warped.any(1))[0]
            cc = np.nonzero(warped.any(0))[0]
            t = warped[rr[0]:rr[-1] + 1, cc[0]:cc[-1] + 1]
            th, tw = t.shape
            if th > H or tw > W:
                continue
            total = t.sum()
            dxs = np.arange(0, W - tw + 1)
            a0 = np.clip(x0 - dxs, 0, tw)
            a1 = np.clip(x1 - dxs, 0, tw)
            for dy in range(0, H - th + 1):
                rows = t[max(0, y0 - dy):max(0, min(th, y1 - dy))]
                if rows.size == 0:
                    continue
                cs = np.concatenate([[0], np.cumsum(rows.sum(0))])
                best = max(best, float((cs[a1] - cs[a0]).max()) / total)
    return best


def test_constructed_case_rotation_aligns_a_tilted_bar():
    # Foreground j: a 60x6 bar tilted by 10 degrees. Target: a 70x9 axis-aligned box elsewhere. Only
    # rotating by -10 (cv2 angles are counter-clockwise; boxPoints' are clockwise in image coordinates)
    # makes it fit at scale 1: its height at the other grid angles is >= 60*sin(5 deg) + 6*cos(5 deg) = 11.2.
    shape = (80, 120)
    mask_j = _bar(shape, (40, 50), 60, 6, 10)
    box = (20, 30, 29, 100)
    grid = PlacementGrid(min_scale=0.5, max_scale=1.0, max_angle=15, angle_step=5)
    p = place(mask_j, box, shape, grid=grid)
    assert p is not None
    assert p.containment == 1.0
    assert p.scale == 1.0
    assert abs(p.angle) == 10.0
    # The written mask: inside the image, nothing clipped, all of it inside the box.
    bg = np.zeros(shape + (3,), np.float32)
    img_j = np.ones(shape + (3,), np.float32)
    comp, m = composite(bg, img_j, p)
    assert m.sum() == p.mask_crop.sum()
    y0, x0, y1, x1 = box
    assert m[y0:y1, x0:x1].sum() == m.sum()
    # Rotation is rigid: the area stays within the anti-aliasing margin of the source bar.
    assert abs(m.sum() - mask_j.sum()) <= 0.15 * mask_j.sum()


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_containment_is_best_over_the_grid(seed):
    rng = np.random.default_rng(seed)
    shape = (40, 52)
    mask_j = np.zeros(shape, np.float32)
    cv2.ellipse(mask_j, (int(rng.integers(15, 35)), int(rng.integers(12, 28))),
                (int(rng.integers(8, 14)), int(rng.integers(3, 8))), float(rng.integers(0, 180)), 0, 360, 1, -1)
    box = (int(rng.integers(5, 12)), int(rng.integers(5, 15)), 0, 0)
    box = (box[0], box[1], box[0] + int(rng.integers(6, 14)), box[1] + int(rng.integers(8, 20)))
    grid = PlacementGrid(min_scale=0.5, max_scale=1.0, max_angle=15, angle_step=5, max_offsets=10_000)
    p = place(mask_j, box, shape, grid=grid)
    assert p is not None
    # The reported containment is that of the written mask.
    _, m = composite(np.zeros(shape + (3,), np.float32), np.ones(shape + (3,), np.float32), p)
    y0, x0, y1, x1 = box
    assert m[y0:y1, x0:x1].sum() / m.sum() == pytest.approx(p.containment, abs=1e-12)
    best = _brute_force_best(mask_j, box, shape, grid)
    assert p.containment >= best - 1e-12


def test_large_foreground_is_scaled_down():
    shape = (100, 100)
    mask_j = np.zeros(shape, np.float32)
    mask_j[10:90, 10:90] = 1                    # 80x80
    box = (40, 40, 62, 62)                      # 22x22 target
    p = place(mask_j, box, shape, grid=PlacementGrid(min_scale=0.25))
    assert p is not None and p.containment == 1.0
    assert p.scale == pytest.approx(0.25)       # 2**(-8/4): the largest grid scale at which 80 px fit 22
    assert p.size[0] <= 22 and p.size[1] <= 22
    # With a floor of 0.5 it cannot fit: containment < 1 (the generator then skips with a reason).
    p2 = place(mask_j, box, shape, grid=PlacementGrid(min_scale=0.5))
    assert p2.containment < 0.5


def test_never_leaves_the_image_and_infeasible_is_none():
    rng = np.random.default_rng(5)
    for _ in range(20):
        hj, wj = int(rng.integers(20, 90)), int(rng.integers(20, 90))
        mask_j = (rng.random((hj, wj)) > 0.3).astype(np.float32)
        H, W = int(rng.integers(30, 80)), int(rng.integers(30, 80))
        y0, x0 = int(rng.integers(0, H - 5)), int(rng.integers(0, W - 5))
        box = (y0, x0, int(rng.integers(y0 + 1, H + 1)), int(rng.integers(x0 + 1, W + 1)))
        p = place(mask_j, box, (H, W))
        if p is None:
            continue
        oy, ox = p.offset
        assert 0 <= oy and 0 <= ox and oy + p.size[0] <= H and ox + p.size[1] <= W
        _, m = composite(np.zeros((H, W, 3), np.float32), np.ones((hj, wj, 3), np.float32), p)
        assert m.sum() == p.mask_crop.sum()     # no foreground pixel clipped
    # A foreground far larger than the image at every grid scale.
    big = np.ones((400, 400), np.float32)
    assert place(big, (0, 0, 10, 10), (20, 20)) is None
    assert place(np.zeros((10, 10), np.float32), (0, 0, 5, 5), (10, 10)) is None


def test_composite_is_eq5():
    rng = np.random.default_rng(7)
    bg = rng.random((30, 40, 3)).astype(np.float32)
    img_j = rng.random((30, 40, 3)).astype(np.float32)
    mask_j = np.zeros((30, 40), np.float32)
    mask_j[2:8, 3:12] = 1
    p = place(mask_j, (10, 10, 25, 35), (30, 40))
    assert p.angle == 0.0 and p.scale == 1.0    # fits as is: no rotation, no scaling
    comp, m = composite(bg, img_j, p)
    out = m == 0
    np.testing.assert_array_equal(comp[out], bg[out])
    # A pure integer translation at scale 1, angle 0: the pasted pixels are the source's exactly.
    oy, ox = p.offset
    np.testing.assert_allclose(comp[oy:oy + 6, ox:ox + 9], img_j[2:8, 3:12], atol=1e-6)


def test_reduced_resolution_search_matches_full_search_closely():
    # Foregrounds longer than 128 px are searched on a reduced copy (module docstring); the result, refined
    # at full resolution, must stay close to the exact full-resolution search and inside the image.
    rng = np.random.default_rng(11)
    H, W = 240, 320
    for _ in range(4):
        mask_j = np.zeros((H, W), np.float32)
        cv2.ellipse(mask_j, (160, 120), (int(rng.integers(70, 140)), int(rng.integers(30, 90))),
                    float(rng.integers(0, 180)), 0, 360, 1, -1)
        y0, x0 = int(rng.integers(10, 100)), int(rng.integers(10, 150))
        box = (y0, x0, y0 + int(rng.integers(30, 120)), x0 + int(rng.integers(30, 150)))
        fast = place(mask_j, box, (H, W))
        exact = place(mask_j, box, (H, W), grid=PlacementGrid(search_side=0))
        assert fast is not None and exact is not None
        assert fast.containment >= exact.containment - 0.03
        oy, ox = fast.offset
        assert oy >= 0 and ox >= 0 and oy + fast.size[0] <= H and ox + fast.size[1] <= W
        _, m = composite(np.zeros((H, W, 3), np.float32), np.ones((H, W, 3), np.float32), fast)
        y0, x0, y1, x1 = box
        assert m[y0:y1, x0:x1].sum() / m.sum() == pytest.approx(fast.containment, abs=1e-12)
