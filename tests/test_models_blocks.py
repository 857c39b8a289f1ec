"""Layers and losses of the networks against independent computations written here."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny tensors: one thread is fastest on shared cores

from harmony.models.bargainnet import DomainCodeExtractor, triplet_loss  # noqa: E402
from harmony.models.blocks import S2AM, PartialConv2d, StyleFusion, masked_mean_std  # noqa: E402
from harmony.models.rcl import cell_patches, region_contrastive_loss  # noqa: E402


def test_partial_conv_matches_definition():
    """Liu et al. 2018: out = W.(X*M) * (k*k / sum(M)) + b where sum(M) > 0, else 0; new mask = sum(M) > 0."""
    g = torch.Generator().manual_seed(0)
    conv = PartialConv2d(2, 3, kernel=3, stride=2, padding=1)
    with torch.no_grad():
        conv.conv.weight.copy_(torch.randn(conv.conv.weight.shape, generator=g))
        conv.bias.copy_(torch.randn(3, generator=g))
    x = torch.randn(1, 2, 7, 7, generator=g)
    mask = torch.zeros(1, 1, 7, 7)
    mask[0, 0, 1:4, 2:6] = 1.0   # an irregular-enough block; the lower rows are unmasked
    out, new_mask = conv(x, mask)
    W, b = conv.conv.weight.detach().numpy(), conv.bias.detach().numpy()
    xp = np.pad(x.numpy()[0], ((0, 0), (1, 1), (1, 1)))
    mp = np.pad(mask.numpy()[0, 0], ((1, 1), (1, 1)))
    expected = np.zeros((3, 4, 4))
    exp_mask = np.zeros((4, 4))
    for i in range(4):
        for j in range(4):
            win_x = xp[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
            win_m = mp[2 * i:2 * i + 3, 2 * j:2 * j + 3]
            s = win_m.sum()
            if s > 0:
                exp_mask[i, j] = 1
                for o in range(3):
                    expected[o, i, j] = (W[o] * win_x * win_m).sum() * 9.0 / s + b[o]
    assert np.allclose(out.detach().numpy()[0], expected, atol=1e-5)
    assert np.array_equal(new_mask.numpy()[0, 0], exp_mask)
    # pixels outside the mask have no influence at all
    x2 = x.clone()
    x2[0, :, 5:, :] += 100.0
    assert torch.allclose(conv(x2, mask)[0], out)


def test_domain_code_ignores_pixels_outside_the_region():
    torch.manual_seed(0)
    extractor = DomainCodeExtractor(3, (4, 4, 4, 4, 4), 16).eval()
    img = torch.rand(1, 3, 32, 32)
    region = torch.zeros(1, 1, 32, 32)
    region[..., :16, :] = 1.0
    other = img.clone()
    other[..., 16:, :] = torch.rand(1, 3, 16, 32)
    with torch.no_grad():
        a, b = extractor(img, region), extractor(other, region)
    assert a.shape == (1, 16)
    assert torch.allclose(a, b, atol=1e-6)


def test_triplet_loss_margins_hand_checked():
    a = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    p = torch.tensor([[3.0, 4.0], [1.0, 0.0]])   # d(a, p) = 5 and 1
    n = torch.tensor([[0.0, 2.0], [0.0, 3.0]])   # d(a, n) = 2 and 3
    # max(5 - 2 + 1, 0) = 4 and max(1 - 3 + 1, 0) = 0 -> mean 2
    assert float(triplet_loss(a, p, n, margin=1.0)) == pytest.approx(2.0)
    assert float(triplet_loss(a, p, n, margin=3.0)) == pytest.approx((6 + 1) / 2)


def test_region_contrastive_loss_against_direct_formula():
    g = torch.Generator().manual_seed(3)
    K, D, tau = 5, 8, 0.07
    unit = lambda t: t / t.norm(dim=-1, keepdim=True)  # noqa: E731
    v_bg, v_fg = unit(torch.randn(D, generator=g)), unit(torch.randn(D, generator=g))
    P, N = unit(torch.randn(K, D, generator=g)), unit(torch.randn(K, D, generator=g))
    got = float(region_contrastive_loss(v_bg, v_fg, P, N, tau))
    vb, vf, Pn, Nn = (t.double().numpy() for t in (v_bg, v_fg, P, N))
    neg = sum(math.exp(float(vf @ Nn[k]) / tau) for k in range(K))
    direct = np.mean([-math.log(math.exp(float(vb @ Pn[i]) / tau) / (math.exp(float(vb @ Pn[i]) / tau) + neg))
                      for i in range(K)])
    assert got == pytest.approx(direct, rel=1e-4)
    # a query aligned with its positives and orthogonal to the negatives gives a small loss
    e = torch.eye(D)
    small = float(region_contrastive_loss(e[0], e[1], e[:1].repeat(K, 1), e[2:3].repeat(K, 1), 1.0))
    assert small == pytest.approx(-math.log(math.e / (math.e + K)), rel=1e-5)


def test_cell_patches_are_8x8_windows_around_4x4_cells():
    img = torch.arange(16 * 16, dtype=torch.float32).view(1, 1, 16, 16).repeat(1, 3, 1, 1)
    patches = cell_patches(img)
    assert patches.shape == (1, 16, 3 * 64)
    # cell (1, 1) covers rows/cols 4..7; its patch is rows/cols 2..9
    p = patches[0, 1 * 4 + 1, :64].view(8, 8)
    assert torch.equal(p, img[0, 0, 2:10, 2:10])


def test_masked_mean_std_and_style_fusion_start_as_identity():
    x = torch.tensor([[[[1.0, 3.0], [5.0, 100.0]]]])
    m = torch.tensor([[[[1.0, 1.0], [1.0, 0.0]]]])
    mean, std = masked_mean_std(x, m, eps=0.0)
    assert float(mean) == pytest.approx(3.0)
    assert float(std) == pytest.approx(math.sqrt(8 / 3))
    fusion = StyleFusion(4)
    dec, enc = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    mask = (torch.rand(2, 1, 8, 8) > 0.5).float()
    assert torch.equal(fusion(dec, enc, mask), dec)        # affines initialised at zero
    with torch.no_grad():
        fusion.shift.bias.fill_(1.0)
    assert torch.allclose(fusion(dec, enc, mask), dec + 1.0)


def test_s2am_shape_and_mask_sensitivity():
    torch.manual_seed(0)
    block = S2AM(8, reduction=2).eval()
    x = torch.randn(1, 8, 16, 16)
    m1 = torch.zeros(1, 1, 32, 32)
    m1[..., :16, :] = 1
    out = block(x, m1)
    assert out.shape == x.shape
    assert not torch.allclose(out, block(x, 1 - m1))
