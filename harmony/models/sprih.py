"""SPRIH: semi-supervised parametric real-world image harmonization (Wang et al., "Semi-supervised
Parametric Real-world Image Harmonization", CVPR 2023, sections 3.1-3.2).

What follows the paper:

- A predictor ``f(C_lr, B_lr, M_lr)`` at ``size`` (512 in the paper) gives the parameters of a two-stage
  transformation: (a) three piecewise-linear RGB curves with 32 control points, applied pointwise, from
  a residual CNN (``sprih_paper``: the ResNet-50 layout, bottleneck blocks 3-4-6-3, about 23.5M
  parameters, as the paper's 23M for stage t1); (b) a grey multiplicative shading map made by a U-Net
  with a large receptive field (down to size/64) that sees ``[C, B, M]`` **and the curve-corrected
  low-resolution image** ``t1(C_lr)``, generated at ``size/8`` (64x64 at 512), upsampled bilinearly to
  ``size`` and passed through one 3x3 convolution at ``size``.
- Output (Eq. 1), inside the mask only: ``O = M * curves(C) * upsample(S) + (1 - M) * C`` (curves and
  shaded values clipped to [0, 1], as in :mod:`harmony.models.curves`). At inference
  (:class:`SPRIHHarmonizer`) the parameters predicted at ``size`` are applied to the **full-resolution**
  input by :mod:`harmony.models.curves` (a lookup table per channel), so the cost beyond the fixed
  ``size`` prediction is one pass over the pixels.
- Dual-stream training (section 3.2): stream 1, supervised (paired data such as ``harmony datagen
  retouched``), loss ``0.92 * L1 + 0.08 * L_G`` (Eq. 2); stream 2, unsupervised on real composites from
  ``harmony datagen real`` with input ``[C_ij, inpaint(B_i), M_j]`` and the adversarial loss only,
  ``0.08 * L_G``; the streams are drawn 50/50 per step. A per-pixel U-Net discriminator (Real-ESRGAN
  style, spectral normalisation) is trained with Eq. 3: target ``1 - M`` on fakes (background real,
  foreground fake) and all ones on the "real" class, which is the ground truth in stream 1 and
  ``real_class/`` (Eq. 6: the source image with its own foreground pasted back on its inpainted
  background) in stream 2. Generator loss Eq. 4: ``-log D(fake)``. Random foreground brightness
  augmentation on the fly (the composite's foreground is scaled by U(0.7, 1.3); the target is not).
- ``shading=False`` gives the curves-only model of the Table 4 ablation (presets ``sprih_*_curves``);
  training without ``--unpaired`` is the stream-1-only rows.

What differs and why:

- The curves' knots are fixed at ``x_k = k/31`` and the network predicts the 32 ``y`` values per channel
  (the paper's theta1 holds 2-D points); edited files may move the knots (``harmony apply-params``).
  With ``monotone=True`` the ``y`` are a cumulative sum of positive steps (non-decreasing curves).
  Heads start at zero, so an untrained model is the identity (curves ``y = x``, shading 1).
- The shading map is ``S = 2 * sigmoid(u)`` (range [0, 2], 1 = unchanged), and the 3x3 refining
  convolution at ``size`` has non-negative weights summing to one (a learned blur): its gain is at most
  one at every frequency, so the map's high-frequency energy is bounded by that of the bilinear upsampling
  of the ``size/8`` map *by construction* (tested), and ``S`` stays in [0, 2].
- The discriminator sees the image only (the U-Net discriminator of Real-ESRGAN, which the paper cites);
  Eq. 3 as printed (``log((1 - M) - D)``) is read as the per-pixel binary cross-entropy with target
  ``1 - M``, the paper's stated intent.
- In stream 1, ``B`` is the composite's own background (``C * (1 - M)``), as the adapter gives at test
  time; stream 2 uses the inpainted background (its ``backgrounds/`` image), as in the paper.
- The paper trains 80 epochs with Adam lr 4e-5 (decay 0.2 every 20 epochs), batch 8, on 46k retouched
  pairs; ``sprih_paper`` keeps batch 8 and lr 4e-5 (no decay schedule here), ``sprih_tiny`` trains at
  64x64 in about a minute on 2 CPU cores, with GroupNorm instead of BatchNorm (``norm="group"``: with
  batches of 4 and a minute of training, BN's running statistics make evaluation-mode outputs far worse
  than training-mode ones). The discriminator's Adam state is saved with the checkpoint (exact
  ``--resume``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import imageops
from ..errors import InputError
from .base import HarmonyNet
from .curves import N_POINTS, ParametricParams, apply_params, check_pair_fast, uniform_knots

LAMBDA_REC = 0.92          # Eq. 2
_SOFTPLUS_ONE = math.log(math.e - 1.0)   # softplus(_SOFTPLUS_ONE) == 1


# --- the backbone (torchvision is not available: a ResNet written here) -------------------------------

def norm2d(kind: str, channels: int) -> nn.Module:
    """A normalisation layer by name.

    Parameters
    ----------
    kind : {"batch", "group", "none"}
        ``batch``: the paper's ResNet; ``group``: GroupNorm with up to 8 groups (same behaviour in
        training and evaluation, which tiny CPU batches need); ``none``: identity.
    channels : int

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    ValueError
        For another ``kind``.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(channels, 8), channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm: expected batch | group | none, got {kind!r}")


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 reduce, 3x3 (stride), 1x1 expand (x4), projection shortcut when needed."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1, norm: str = "batch"):
        super().__init__()
        cout = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False), norm2d(norm, width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), norm2d(norm, width), nn.ReLU(inplace=True),
            nn.Conv2d(width, cout, 1, bias=False), norm2d(norm, cout))
        self.skip = nn.Identity() if (cin == cout and stride == 1) else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), norm2d(norm, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Parameters
        ----------
        x : torch.Tensor, (N, cin, H, W) float

        Returns
        -------
        torch.Tensor, (N, 4 * width, H / stride, W / stride) float
        """
        return F.relu(self.body(x) + self.skip(x))


class Basic(nn.Module):
    """ResNet basic block: two 3x3 convolutions (first with stride)."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1, norm: str = "batch"):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 3, stride, 1, bias=False), norm2d(norm, width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, 1, 1, bias=False), norm2d(norm, width))
        self.skip = nn.Identity() if (cin == width and stride == 1) else nn.Sequential(
            nn.Conv2d(cin, width, 1, stride, bias=False), norm2d(norm, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Parameters
        ----------
        x : torch.Tensor, (N, cin, H, W) float

        Returns
        -------
        torch.Tensor, (N, width, H / stride, W / stride) float
        """
        return F.relu(self.body(x) + self.skip(x))


class ResidualBackbone(nn.Module):
    """ResNet-style encoder: 7x7/2 stem + 3x3/2 max-pool, stages of residual blocks (stride 2 at every
    stage but the first), global average pooling. ``block="bottleneck"`` with widths 64-128-256-512 and
    blocks 3-4-6-3 is the ResNet-50 layout."""

    def __init__(self, cin: int, stem: int, widths: Sequence[int], blocks: Sequence[int], block: str = "bottleneck",
                 norm: str = "batch"):
        super().__init__()
        kind = {"bottleneck": Bottleneck, "basic": Basic}[block]
        self.stem = nn.Sequential(nn.Conv2d(cin, stem, 7, 2, 3, bias=False), norm2d(norm, stem),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        layers: list[nn.Module] = []
        ch = stem
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(kind(ch, w, 2 if (j == 0 and i > 0) else 1, norm))
                ch = w * kind.expansion
        self.stages = nn.Sequential(*layers)
        self.out_channels = ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Global feature vector of an image.

        Parameters
        ----------
        x : torch.Tensor, (N, cin, H, W) float in [-1, 1]

        Returns
        -------
        torch.Tensor, (N, out_channels) float
            Global average of the last stage.
        """
        return self.stages(self.stem(x)).mean(dim=(2, 3))


def _conv_bn_relu(cin: int, cout: int, stride: int = 1, norm: str = "batch") -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), norm2d(norm, cout), nn.ReLU(inplace=True))


class ShadingUNet(nn.Module):
    """U-Net from ``size`` down to ``size / 2**len(widths)`` and back up to ``size / 2**out_level``:
    level i halves the resolution (3x3/2 then 3x3); the decoder upsamples x2, concatenates the encoder
    feature of that resolution and applies two 3x3 convolutions; a 1x1 convolution gives one channel."""

    def __init__(self, cin: int, widths: Sequence[int], out_level: int = 3, norm: str = "batch"):
        super().__init__()
        if len(widths) <= out_level:
            raise ValueError(f"shading U-Net: needs more than {out_level} levels, got {len(widths)}")
        self.enc = nn.ModuleList()
        ch = cin
        for w in widths:
            self.enc.append(nn.Sequential(_conv_bn_relu(ch, w, 2, norm), _conv_bn_relu(w, w, 1, norm)))
            ch = w
        self.dec = nn.ModuleList()
        # decoder levels: from the deepest (index L-1) up to out_level-1's output resolution
        for i in range(len(widths) - 2, out_level - 2, -1):
            self.dec.append(nn.Sequential(_conv_bn_relu(ch + widths[i], widths[i], 1, norm),
                                          _conv_bn_relu(widths[i], widths[i], 1, norm)))
            ch = widths[i]
        self.head = nn.Conv2d(ch, 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.out_level = out_level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Low-resolution shading logits.

        Parameters
        ----------
        x : torch.Tensor, (N, cin, H, W) float in [-1, 1]
            ``[C, B, M, t1(C)]``; ``H``, ``W`` multiples of ``2**len(widths)``.

        Returns
        -------
        torch.Tensor, (N, 1, H / 2**out_level, W / 2**out_level) float
        """
        feats = []
        for layer in self.enc:
            x = layer(x)
            feats.append(x)
        skips = feats[:-1][::-1]
        for layer, skip in zip(self.dec, skips):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = layer(torch.cat([x, skip], 1))
        return self.head(x)


class BlurRefine(nn.Module):
    """One 3x3 convolution at full model resolution with non-negative weights summing to one
    (softmax of 9 logits; starts close to the identity): corrects bilinear upsampling kinks and cannot
    add high-frequency energy (its frequency response is at most 1 in magnitude)."""

    def __init__(self):
        super().__init__()
        logits = torch.full((9,), -2.0)
        logits[4] = 2.0
        self.logits = nn.Parameter(logits)

    def kernel(self) -> torch.Tensor:
        """The 3x3 kernel: softmax of the 9 logits (non-negative, sums to one).

        Returns
        -------
        torch.Tensor, (1, 1, 3, 3) float
        """
        return torch.softmax(self.logits, 0).view(1, 1, 3, 3)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """Smooth an upsampled shading map (replicate padding).

        Parameters
        ----------
        s : torch.Tensor, (N, 1, H, W) float

        Returns
        -------
        torch.Tensor, (N, 1, H, W) float
            Values stay within the input's range (a convex combination of neighbours).
        """
        return F.conv2d(F.pad(s, (1, 1, 1, 1), mode="replicate"), self.kernel())


# --- the discriminator ------------------------------------------------------------------------------

class UNetDiscriminator(nn.Module):
    """Per-pixel U-Net discriminator (Real-ESRGAN style): 3x3 conv, three 4x4/2 spectral-normalised
    convolutions, three bilinear x2 upsamplings with skip sums, two 3x3 convs, one logit per pixel."""

    def __init__(self, nf: int = 64):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.conv0 = nn.Conv2d(3, nf, 3, 1, 1)
        self.down = nn.ModuleList([sn(nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False)),
                                   sn(nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False)),
                                   sn(nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False))])
        self.up = nn.ModuleList([sn(nn.Conv2d(nf * 8, nf * 4, 3, 1, 1, bias=False)),
                                 sn(nn.Conv2d(nf * 4, nf * 2, 3, 1, 1, bias=False)),
                                 sn(nn.Conv2d(nf * 2, nf, 3, 1, 1, bias=False))])
        self.extra = nn.Sequential(sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False)), nn.LeakyReLU(0.2, True),
                                   sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False)), nn.LeakyReLU(0.2, True))
        self.out = nn.Conv2d(nf, 1, 3, 1, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Per-pixel realism logits.

        Parameters
        ----------
        image : torch.Tensor, (N, 3, H, W) float in [0, 1]
            ``H``, ``W`` multiples of 8.

        Returns
        -------
        torch.Tensor, (N, 1, H, W) float
            Logits; positive = judged real.
        """
        x = F.leaky_relu(self.conv0(image * 2.0 - 1.0), 0.2)
        feats = [x]
        for conv in self.down:
            x = F.leaky_relu(conv(x), 0.2)
            feats.append(x)
        for conv, skip in zip(self.up, feats[-2::-1]):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = F.leaky_relu(conv(x), 0.2) + skip
        return self.out(self.extra(x))


def discriminator_targets(mask: torch.Tensor, real: bool) -> torch.Tensor:
    """Per-pixel targets of Eq. 3: all ones for the "real" class, the inverted mask ``1 - M`` for fakes.

    Parameters
    ----------
    mask : torch.Tensor, (N, 1, H, W) float in [0, 1]
    real : bool

    Returns
    -------
    torch.Tensor, (N, 1, H, W) float in [0, 1]

    References
    ----------
    .. [1] K. Wang, M. Gharbi, H. Zhang, Z. Xia, E. Shechtman, "Semi-supervised Parametric Real-world
       Image Harmonization", CVPR 2023.
    """
    return torch.ones_like(mask) if real else (1.0 - mask)


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor, mask_fake: torch.Tensor,
                       mask_real: torch.Tensor | None = None) -> torch.Tensor:
    """Discriminator loss (Eq. 3): per-pixel binary cross-entropy with logits against
    :func:`discriminator_targets` (real images all real; a fake's background real, foreground fake).

    Parameters
    ----------
    d_real, d_fake : torch.Tensor, (N, 1, H, W) float
        Logits on real-class images and on the generator's outputs.
    mask_fake : torch.Tensor, (N, 1, H, W) float in [0, 1]
        Foreground masks of the fakes.
    mask_real : torch.Tensor, optional
        Shape source of the real targets (they are all ones whatever its values).

    Returns
    -------
    torch.Tensor, () float, >= 0

    References
    ----------
    .. [1] K. Wang, M. Gharbi, H. Zhang, Z. Xia, E. Shechtman, "Semi-supervised Parametric Real-world
       Image Harmonization", CVPR 2023.
    """
    ones = discriminator_targets(mask_real if mask_real is not None else torch.zeros_like(d_real), True)
    return (F.binary_cross_entropy_with_logits(d_real, ones)
            + F.binary_cross_entropy_with_logits(d_fake, discriminator_targets(mask_fake, False)))


def generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Generator adversarial loss (Eq. 4): ``-E[log sigmoid(D(fake))]`` per pixel.

    Parameters
    ----------
    d_fake : torch.Tensor, (N, 1, H, W) float
        Discriminator logits on the generator's outputs.

    Returns
    -------
    torch.Tensor, () float, >= 0

    References
    ----------
    .. [1] K. Wang, M. Gharbi, H. Zhang, Z. Xia, E. Shechtman, "Semi-supervised Parametric Real-world
       Image Harmonization", CVPR 2023.
    """
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


# --- curves in torch ----------------------------------------------------------------------------------

def apply_curves_torch(image: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear curves with uniform knots ``k / (K - 1)``, differentiable in the curve values.

    Parameters
    ----------
    image : torch.Tensor, (N, 3, H, W) float
        Clamped to [0, 1] first.
    ys : torch.Tensor, (N, 3, K) float
        Curve values at the knots, per channel.

    Returns
    -------
    torch.Tensor, (N, 3, H, W) float
        Linear interpolation between the two knots around each value (unclipped); the numpy
        :func:`harmony.models.curves.apply_params` evaluates the same curves at full resolution.
    """
    b, c, h, w = image.shape
    k = ys.shape[-1]
    t = image.clamp(0.0, 1.0).reshape(b, c, h * w) * (k - 1)
    idx = t.detach().floor().clamp(0, k - 2).long()
    frac = t - idx.to(t.dtype)
    y0 = torch.gather(ys, 2, idx)
    y1 = torch.gather(ys, 2, idx + 1)
    return (y0 + frac * (y1 - y0)).reshape(b, c, h, w)


# --- the network --------------------------------------------------------------------------------------

class SPRIH(HarmonyNet):
    """SPRIH's parameter predictor and the differentiable low-resolution rendering of Eq. 1.

    Parameters
    ----------
    size : int, default 512
        Side the network runs at (multiple of 64).
    stem, widths, blocks, block
        ResNet layout of the curve backbone (``bottleneck`` 3-4-6-3: ResNet-50).
    unet_widths : sequence of int
        Levels of the shading U-Net.
    shading : bool, default True
        False: curves only (Table 4 ablation).
    monotone : bool, default True
        Curves built from a start value and non-negative softplus steps.
    disc_nf : int
        Width of the U-Net discriminator.
    adversarial : bool, default True
        Build the discriminator (stream-2 training needs it).
    lambda_rec : float
        Weight of the reconstruction term of Eq. 2 (the adversarial term gets ``1 - lambda_rec``).
    brightness : (float, float)
        Range of the foreground gain drawn per stream-1 sample.
    points : int, default 32
        Control points per curve.
    norm : {"batch", "group", "none"}

    References
    ----------
    .. [1] K. Wang, M. Gharbi, H. Zhang, Z. Xia, E. Shechtman, "Semi-supervised Parametric Real-world
       Image Harmonization", CVPR 2023.
    """

    model_name = "sprih"

    def __init__(self, size: int = 512, stem: int = 64, widths: Sequence[int] = (64, 128, 256, 512),
                 blocks: Sequence[int] = (3, 4, 6, 3), block: str = "bottleneck",
                 unet_widths: Sequence[int] = (64, 128, 256, 512, 1024, 1024), shading: bool = True,
                 monotone: bool = True, disc_nf: int = 64, adversarial: bool = True, lambda_rec: float = LAMBDA_REC,
                 brightness: Sequence[float] = (0.7, 1.3), points: int = N_POINTS, norm: str = "batch"):
        super().__init__(size=size, stem=stem, widths=tuple(widths), blocks=tuple(blocks), block=block,
                         unet_widths=tuple(unet_widths), shading=bool(shading), monotone=bool(monotone),
                         disc_nf=disc_nf, adversarial=bool(adversarial), lambda_rec=float(lambda_rec),
                         brightness=tuple(brightness), points=int(points), norm=norm)
        if size % 64:
            raise ValueError(f"SPRIH: size must be a multiple of 64, got {size}")
        self.points = int(points)
        self.backbone = ResidualBackbone(7, stem, widths, blocks, block, norm)
        self.curve_head = nn.Linear(self.backbone.out_channels, 3 * self.points)
        nn.init.zeros_(self.curve_head.weight)
        nn.init.zeros_(self.curve_head.bias)
        self.use_shading = bool(shading)
        if self.use_shading:
            self.unet = ShadingUNet(10, unet_widths, out_level=3, norm=norm)
            self.refine = BlurRefine()
        self.discriminator = UNetDiscriminator(disc_nf) if adversarial else None
        self.register_buffer("knots", torch.linspace(0.0, 1.0, self.points), persistent=False)

    # -- parameters ---------------------------------------------------------------------------------
    def curves_from_raw(self, raw: torch.Tensor) -> torch.Tensor:
        """Curve values from the head's raw output; zero raw output gives the identity curves.

        Parameters
        ----------
        raw : torch.Tensor, (N, 3 * K) float

        Returns
        -------
        torch.Tensor, (N, 3, K) float
            Non-decreasing along K when ``monotone``.
        """
        raw = raw.view(raw.shape[0], 3, self.points)
        if self.config["monotone"]:
            steps = F.softplus(raw[..., 1:] + _SOFTPLUS_ONE) / (self.points - 1)
            start = 0.1 * raw[..., :1]
            return torch.cat([start, start + torch.cumsum(steps, -1)], -1)
        return self.knots.view(1, 1, -1) + raw

    def predict_params(self, composite: torch.Tensor, mask: torch.Tensor,
                       background: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The curves and the shading map of Eq. 1 for low-resolution inputs.

        Parameters
        ----------
        composite : torch.Tensor, (N, 3, H, W) float in [0, 1]
        mask : torch.Tensor, (N, 1, H, W) float in [0, 1]
        background : torch.Tensor, (N, 3, H, W) float, optional
            Background input ``B`` (default ``C * (1 - M)``; stream 2 gives the inpainted background).

        Returns
        -------
        curves : torch.Tensor, (N, 3, K) float
            Values at the uniform knots.
        shading : torch.Tensor, (N, 1, H, W) float in [0, 2], or None
            None for a curves-only network.

        References
        ----------
        .. [1] K. Wang, M. Gharbi, H. Zhang, Z. Xia, E. Shechtman, "Semi-supervised Parametric Real-world
           Image Harmonization", CVPR 2023.
        """
        if background is None:
            background = composite * (1.0 - mask)
        x = torch.cat([composite, background, mask], 1)
        ys = self.curves_from_raw(self.curve_head(self.backbone(x * 2.0 - 1.0)))
        if not self.use_shading:
            return ys, None
        curved = apply_curves_torch(composite, ys).clamp(0.0, 1.0)
        t1 = mask * curved + (1.0 - mask) * composite
        low = self.unet(torch.cat([x, t1], 1) * 2.0 - 1.0)
        shading_low = 2.0 * torch.sigmoid(low)
        up = F.interpolate(shading_low, size=composite.shape[-2:], mode="bilinear", align_corners=False)
        return ys, self.refine(up)

    def render(self, composite: torch.Tensor, mask: torch.Tensor, ys: torch.Tensor,
               shading: torch.Tensor | None) -> torch.Tensor:
        """Eq. 1 at the tensors' resolution: ``M * clip(curves(C)) * S + (1 - M) * C``, clipped to [0, 1].

        Parameters
        ----------
        composite : torch.Tensor, (N, 3, H, W) float in [0, 1]
        mask : torch.Tensor, (N, 1, H, W) float in [0, 1]
        ys : torch.Tensor, (N, 3, K) float
            Curve values.
        shading : torch.Tensor, (N, 1, H, W) float, or None

        Returns
        -------
        torch.Tensor, (N, 3, H, W) float in [0, 1]
        """
        new = apply_curves_torch(composite, ys).clamp(0.0, 1.0)
        if shading is not None:
            new = (new * shading).clamp(0.0, 1.0)
        return (mask * new + (1.0 - mask) * composite).clamp(0.0, 1.0)

    def forward(self, composite: torch.Tensor, mask: torch.Tensor, background: torch.Tensor | None = None) -> torch.Tensor:
        """Harmonize at the model resolution: :meth:`predict_params` then :meth:`render`.

        Parameters
        ----------
        composite : torch.Tensor, (N, 3, H, W) float in [0, 1]
        mask : torch.Tensor, (N, 1, H, W) float in [0, 1]
        background : torch.Tensor, (N, 3, H, W) float, optional

        Returns
        -------
        torch.Tensor, (N, 3, H, W) float in [0, 1]
        """
        ys, shading = self.predict_params(composite, mask, background)
        return self.render(composite, mask, ys, shading)

    # -- training (the HarmonyNet hooks; the data streams come from harmony.models.data) ---------------
    extra_streams = {"unpaired": False}

    def streams_for_step(self, seed: int, step: int, batch_size: int) -> dict[str, int]:
        """Stream 2 (``unpaired``) on half of the steps, drawn from ``(seed, step)`` (Section 3.2).

        Parameters
        ----------
        seed, step, batch_size : int

        Returns
        -------
        dict of str to int
            ``{"unpaired": batch_size}`` or ``{}``.
        """
        return {"unpaired": batch_size} if np.random.default_rng([int(seed), int(step), 11]).random() < 0.5 else {}

    def generator_parameters(self):
        """Every parameter except the discriminator's (what the ``main`` optimizer steps).

        Returns
        -------
        list of torch.nn.Parameter
        """
        return [p for n, p in self.named_parameters() if not n.startswith("discriminator.")]

    def optimizer_groups(self) -> dict[str, list]:
        """``main`` (predictor) and, with a discriminator, ``discriminator``.

        Returns
        -------
        dict of str to list of torch.nn.Parameter
        """
        groups = {"main": self.generator_parameters()}
        if self.discriminator is not None:
            groups["discriminator"] = list(self.discriminator.parameters())
        return groups

    def optimizer_options(self, name: str) -> dict[str, Any]:
        """Adam options of the discriminator.

        Parameters
        ----------
        name : str
            ``discriminator``.

        Returns
        -------
        dict
            ``betas=(0.5, 0.999)``.
        """
        return {"betas": (0.5, 0.999)}

    def train_phases(self) -> tuple[str, ...]:
        """The phases of one step.

        Returns
        -------
        tuple of str
            ``("main", "discriminator")``, or ``("main",)`` without a discriminator.
        """
        return ("main", "discriminator") if self.discriminator is not None else ("main",)

    def _brightness(self, composite: torch.Tensor, mask: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        lo, hi = self.config["brightness"]
        gain = torch.from_numpy(rng.uniform(lo, hi, composite.shape[0]).astype(np.float32)).view(-1, 1, 1, 1)
        gain = gain.to(composite.device, composite.dtype)
        return (composite * (1.0 + mask * (gain - 1.0))).clamp(0.0, 1.0)

    def phase_losses(self, phase: str, batch: Mapping[str, Any], context: Any) -> dict[str, torch.Tensor]:
        """Losses of one phase of the dual-stream training (Section 3.2).

        Parameters
        ----------
        phase : {"main", "discriminator"}
            ``main``: Eq. 2 on stream 1 (a brightness-perturbed retouched pair: ``lambda L1 + (1 - lambda)
            L_adv``), adversarial only on stream 2 (a real composite with its inpainted background);
            ``discriminator``: Eq. 3 on the main phase's detached output.
        batch : mapping
            The paired batch, with the step's stream-2 batch under ``batch["streams"]["unpaired"]``.
        context : harmony.models.trainer.StepContext
            ``rng`` draws the brightness gains; ``carry`` passes the fakes to the discriminator phase.

        Returns
        -------
        dict of str to torch.Tensor
            ``total``, ``l1``, ``g_adv`` (with a discriminator), ``stream`` (1 or 2); ``d`` in the
            discriminator phase.

        References
        ----------
        .. [1] K. Wang, M. Gharbi, H. Zhang, Z. Xia, E. Shechtman, "Semi-supervised Parametric Real-world
           Image Harmonization", CVPR 2023.
        """
        if phase == "discriminator":
            c = context.carry
            d_loss = discriminator_loss(self.discriminator(c["real"]), self.discriminator(c["fake"]), c["mask"])
            return {"total": d_loss, "d": d_loss.detach()}
        lam = float(self.config["lambda_rec"])
        unpaired = (batch.get("streams") or {}).get("unpaired")
        stream2 = unpaired is not None
        if stream2:
            comp, mask = unpaired["composite"], unpaired["mask"]
            real = unpaired["real_class"]
            out = self(comp, mask, background=unpaired["background"])
            rec = torch.zeros((), dtype=out.dtype, device=out.device)
        else:
            mask, real = batch["mask"], batch["real"]
            comp = self._brightness(batch["composite"], mask, context.rng)
            out = self(comp, mask)
            rec = (out - real).abs().mean()
        losses: dict[str, torch.Tensor] = {"l1": rec.detach()}
        if self.discriminator is not None:
            adv = generator_loss(self.discriminator(out))
            total = (1.0 - lam) * adv if stream2 else lam * rec + (1.0 - lam) * adv
            losses["g_adv"] = adv.detach()
            context.carry.update(fake=out.detach(), real=real, mask=mask)
        else:
            total = rec
        losses["stream"] = torch.tensor(2.0 if stream2 else 1.0)
        losses["total"] = total
        return losses

    def training_losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Stream-1 objective without the adversarial term (L1).

        Parameters
        ----------
        batch : mapping
            ``composite``, ``real`` (N, 3, H, W) and ``mask`` (N, 1, H, W), float in [0, 1].

        Returns
        -------
        dict of str to torch.Tensor
            ``total`` and ``l1``, equal scalars.
        """
        out = self(batch["composite"], batch["mask"])
        rec = (out - batch["real"]).abs().mean()
        return {"total": rec, "l1": rec}


# --- inference at full resolution ---------------------------------------------------------------------

class SPRIHHarmonizer:
    """A trained SPRIH behind the harmonizer contract: parameters predicted at the network's ``size``,
    applied to the full-resolution composite (:func:`harmony.models.curves.apply_params`).

    Parameters
    ----------
    network : SPRIH
    device : str, default "cpu"
    name : str, default "sprih"
        Named in messages.
    config : dict, optional
        The checkpoint's config.
    """

    def __init__(self, network: SPRIH, *, device: str = "cpu", name: str = "sprih", config: dict | None = None):
        self.network = network.to(device).eval()
        self.device = torch.device(device)
        self.size = int(network.size)
        self.name = name
        self.config = dict(config or {})
        self.checkpoint: str | None = None

    def predict_params(self, composite: np.ndarray, mask: np.ndarray) -> ParametricParams:
        """Curves and shading map for one composite.

        Parameters
        ----------
        composite : ndarray, (H, W, 3) float32 in [0, 1]
        mask : ndarray, (H, W) float32 in [0, 1]

        Returns
        -------
        harmony.models.curves.ParametricParams
            Curves at the uniform knots and a ``(size, size)`` shading map (or None); ``meta`` names the
            model, size and checkpoint.

        Raises
        ------
        ValueError
            Inputs breaking the numpy contract.
        harmony.errors.InputError
            A mask without foreground pixel.
        """
        check_pair_fast(composite, mask)          # imageops.check_pair's checks in one pass per array
        if not (mask > 0.5).any():
            raise InputError(f"{self.name}: mask has no foreground pixel (nothing to harmonize)")
        h, w = mask.shape
        s = self.size
        comp = np.clip(imageops.resize(composite, (s, s), "area" if min(h, w) > s else "bilinear"), 0, 1)
        m = np.clip(imageops.resize(mask, (s, s), "bilinear"), 0, 1)
        with torch.no_grad():
            c_t = torch.from_numpy(np.ascontiguousarray(comp.transpose(2, 0, 1)))[None].to(self.device)
            m_t = torch.from_numpy(np.ascontiguousarray(m))[None, None].to(self.device)
            ys, shading = self.network.predict_params(c_t, m_t)
        return ParametricParams(uniform_knots(self.network.points), ys[0].double().cpu().numpy(),
                                None if shading is None else shading[0, 0].float().cpu().numpy(),
                                {"model": "sprih", "size": s, "checkpoint": self.checkpoint})

    def harmonize_with_params(self, composite: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, ParametricParams]:
        """Harmonize one composite at full resolution and return the parameters used.

        Parameters
        ----------
        composite : ndarray, (H, W, 3) float32 in [0, 1]
        mask : ndarray, (H, W) float32 in [0, 1]

        Returns
        -------
        image : ndarray, (H, W, 3) float32 in [0, 1]
        params : harmony.models.curves.ParametricParams
        """
        params = self.predict_params(composite, mask)
        return apply_params(composite, mask, params), params

    def __call__(self, composite: np.ndarray, mask: np.ndarray, **extra: Any) -> np.ndarray:
        return self.harmonize_with_params(composite, mask)[0]

    def harmonize_batch(self, composites, masks) -> list[np.ndarray]:
        """Harmonize several composites, one at a time (each at its own resolution).

        Parameters
        ----------
        composites : sequence of ndarray, (H, W, 3) float32 in [0, 1]
        masks : sequence of ndarray, (H, W) float32 in [0, 1]

        Returns
        -------
        list of ndarray, (H, W, 3) float32 in [0, 1]
        """
        return [self(c, m) for c, m in zip(composites, masks)]


def make_sprih_factory():
    """The registry factory of ``sprih``: ``factory(weights=None, device="cpu", preset=None)``.

    Returns
    -------
    callable
        Builds a :class:`SPRIHHarmonizer` from the checkpoint :func:`~harmony.models.checkpoint.find_checkpoint`
        finds; unknown options are an InputError.
    """

    def factory(weights: Any = None, device: str = "cpu", preset: str | None = None, **options: Any):
        if options:
            raise InputError(f"sprih: unknown option(s) {', '.join(sorted(options))} (valid: weights, device, preset)")
        from .checkpoint import find_checkpoint, load_checkpoint
        from .presets import presets_for

        folder = find_checkpoint("sprih", weights, presets=presets_for("sprih"))
        net, config = load_checkpoint(folder, model="sprih", preset=preset, device=device)
        h = SPRIHHarmonizer(net, device=device, config=config)
        h.checkpoint = str(folder)
        return h

    factory.is_factory = True
    return factory
