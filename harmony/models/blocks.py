"""Layers shared by the harmonization networks (torch).

Every block takes and returns ``(B, C, H, W)`` tensors. Masks are ``(B, 1, H, W)`` in [0, 1], 1 = the
region the block attends to. Nothing here opens files or prints.

- :func:`conv_norm_act` / :class:`ResBlock`: the plain convolution units of DIH, BargainNet and RCL.
- :class:`PartialConv2d`: partial convolution (Liu et al., ECCV 2018), used by BargainNet's domain code
  extractor so a region's code depends only on the pixels inside its mask.
- :class:`ChannelAttention` / :class:`S2AM`: squeeze-and-excitation channel attention and the
  spatial-separated attention module of S2AM (Cun & Pun 2020) as used by the RCL network.
- :func:`masked_mean_std` / :class:`StyleFusion`: region statistics and RCL's external style fusion.
- :class:`ProjectionMLP`: the shared two-layer MLP of contrastive losses (CUT-style).
- :func:`resize_mask`: a mask at a feature map's resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def make_norm(kind: str, channels: int) -> nn.Module:
    """A normalisation layer by name.

    Parameters
    ----------
    kind : {"batch", "instance", "none"}
        ``nn.BatchNorm2d``, ``nn.InstanceNorm2d(affine=True)`` or ``nn.Identity``.
    channels : int
        Number of feature channels ``C`` of the ``(N, C, H, W)`` input.

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    ValueError
        For any other ``kind``.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm: expected batch | instance | none, got {kind!r}")


def make_act(kind: str) -> nn.Module:
    """An activation layer by name.

    Parameters
    ----------
    kind : {"relu", "lrelu", "elu", "none"}
        ReLU, LeakyReLU with slope 0.2 (pix2pix's discriminators), ELU, or identity.

    Returns
    -------
    torch.nn.Module
        In-place where torch allows it.

    Raises
    ------
    ValueError
        For any other ``kind``.
    """
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "lrelu":
        return nn.LeakyReLU(0.2, inplace=True)
    if kind == "elu":
        return nn.ELU(inplace=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"act: expected relu | lrelu | elu | none, got {kind!r}")


def conv_norm_act(cin: int, cout: int, kernel: int = 3, stride: int = 1, *, norm: str = "batch",
                  act: str = "relu", transposed: bool = False) -> nn.Sequential:
    """Convolution (or transposed convolution) + normalisation + activation.

    Parameters
    ----------
    cin, cout : int
        Input and output channels.
    kernel : int, default 3
        Kernel side.
    stride : int, default 1
        With ``stride=1`` the padding keeps the size; with ``stride=2`` a convolution halves it and, with
        ``transposed=True`` (kernel 4, padding 1), a transposed convolution doubles it exactly.
    norm : {"batch", "instance", "none"}, default "batch"
        See :func:`make_norm`; the convolution has a bias only without normalisation.
    act : {"relu", "lrelu", "elu", "none"}, default "relu"
        See :func:`make_act`.
    transposed : bool, default False
        ``nn.ConvTranspose2d`` instead of ``nn.Conv2d`` (the decoders' upsampling).

    Returns
    -------
    torch.nn.Sequential
        Maps ``(N, cin, H, W)`` to ``(N, cout, H', W')``.
    """
    bias = norm == "none"
    if transposed:
        conv: nn.Module = nn.ConvTranspose2d(cin, cout, kernel, stride, padding=(kernel - stride) // 2, bias=bias)
    else:
        conv = nn.Conv2d(cin, cout, kernel, stride, padding=(kernel - 1) // 2 if stride == 1 else (kernel - stride + 1) // 2,
                         bias=bias)
    return nn.Sequential(conv, make_norm(norm, cout), make_act(act))


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a residual shortcut (1x1 projection when the width changes).

    Parameters
    ----------
    cin, cout : int
        Input and output channels.
    norm, act : str
        See :func:`conv_norm_act`.

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.
    """

    def __init__(self, cin: int, cout: int, *, norm: str = "batch", act: str = "relu"):
        super().__init__()
        self.body = nn.Sequential(conv_norm_act(cin, cout, 3, norm=norm, act=act),
                                  nn.Conv2d(cout, cout, 3, padding=1, bias=norm == "none"), make_norm(norm, cout))
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1, bias=False)
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Parameters
        ----------
        x : torch.Tensor, (N, cin, H, W) float

        Returns
        -------
        torch.Tensor, (N, cout, H, W) float
            ``act(body(x) + skip(x))``.
        """
        return self.act(self.body(x) + self.skip(x))


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A mask at another resolution: area average when shrinking, bilinear when enlarging.

    Parameters
    ----------
    mask : torch.Tensor, (N, 1, H, W) float in [0, 1]
    size : tuple of int
        Target ``(h, w)``.

    Returns
    -------
    torch.Tensor, (N, 1, h, w) float in [0, 1]
        Soft at the region's edge; the input itself when the size already matches.
    """
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    if size[0] <= mask.shape[-2] and size[1] <= mask.shape[-1]:
        return F.adaptive_avg_pool2d(mask, size)
    return F.interpolate(mask, size=size, mode="bilinear", align_corners=False).clamp(0.0, 1.0)


class PartialConv2d(nn.Module):
    """Partial convolution (Liu et al. 2018) with a single-channel mask.

    For a window with mask sum ``s`` (the mask broadcast over the input channels):
    ``out = W . (X * M) * (k*k / s) + b`` when ``s > 0`` and ``0`` otherwise; the updated mask is 1
    where ``s > 0``. ``forward(x, mask) -> (out, new_mask)``. The output therefore never depends on
    pixels outside the mask.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int | None = None,
                 bias: bool = True):
        super().__init__()
        self.kernel = kernel
        self.stride = stride
        self.padding = kernel // 2 if padding is None else padding
        self.conv = nn.Conv2d(cin, cout, kernel, stride, self.padding, bias=False)
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.register_buffer("ones", torch.ones(1, 1, kernel, kernel), persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Convolve the masked input and update the mask.

        Parameters
        ----------
        x : torch.Tensor, (N, cin, H, W) float
        mask : torch.Tensor, (N, 1, H, W) float in [0, 1]
            Region the convolution may see (1 = inside).

        Returns
        -------
        out : torch.Tensor, (N, cout, H', W') float
            ``W . (X * M) * (k * k / s) + b`` where the window's mask sum ``s`` is positive, 0 elsewhere.
        new_mask : torch.Tensor, (N, 1, H', W') float in {0, 1}
            1 where the window saw at least one masked pixel.
        """
        with torch.no_grad():
            coverage = F.conv2d(mask, self.ones, stride=self.stride, padding=self.padding)
            valid = (coverage > 0).to(x.dtype)
            ratio = (self.kernel * self.kernel) / coverage.clamp(min=1e-8) * valid
        out = self.conv(x * mask) * ratio
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        return out * valid, valid


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: ``x * sigmoid(MLP(avgpool(x)))``."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels),
                                nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reweight the channels.

        Parameters
        ----------
        x : torch.Tensor, (N, C, H, W) float

        Returns
        -------
        torch.Tensor, (N, C, H, W) float
            ``x * sigmoid(MLP(mean over H, W of x))``.
        """
        w = self.fc(x.mean(dim=(2, 3)))
        return x * w[:, :, None, None]


class S2AM(nn.Module):
    """Spatial-separated attention module (S2AM, Cun & Pun, TIP 2020), as RCL uses it.

    Three channel attentions: one for the background (kept), two for the foreground (one learns what to
    change, one what to keep); a learned spatial attention map refines the given mask at this resolution
    (a 3x3 convolution over [features, mask], sigmoid) so the separation follows the object's soft edge:
    ``out = CA_bg(x) * (1 - a) + (CA_fg(x) + CA_keep(x)) * a``, ``a = sigmoid(conv([x, m]))``, then a
    3x3 convolution fuses the result. The attention map is initialised to reproduce the mask's side.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.bg = ChannelAttention(channels, reduction)
        self.fg = ChannelAttention(channels, reduction)
        self.keep = ChannelAttention(channels, reduction)
        self.spatial = nn.Conv2d(channels + 1, 1, 3, padding=1)
        self.fuse = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Separate foreground and background channels under a learned soft attention map.

        Parameters
        ----------
        x : torch.Tensor, (N, C, H, W) float
            Features.
        mask : torch.Tensor, (N, 1, H0, W0) float in [0, 1]
            Foreground mask at any resolution (resized to ``(H, W)`` with :func:`resize_mask`).

        Returns
        -------
        torch.Tensor, (N, C, H, W) float
            ``x + fuse(CA_bg(x) * (1 - a) + (CA_fg(x) + CA_keep(x)) * a)``.
        """
        m = resize_mask(mask, x.shape[-2:])
        a = torch.sigmoid(self.spatial(torch.cat([x, m], 1)) + 4.0 * (2.0 * m - 1.0))
        out = self.bg(x) * (1.0 - a) + (self.fg(x) + self.keep(x)) * a
        return x + self.fuse(out)


def masked_mean_std(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel-wise mean and standard deviation of ``x`` over the pixels weighted by ``mask``.

    Parameters
    ----------
    x : torch.Tensor, (N, C, H, W) float
    mask : torch.Tensor, (N, 1, H, W) float in [0, 1]
        Pixel weights.
    eps : float, default 1e-5
        Added to the variance before the square root.

    Returns
    -------
    mean, std : torch.Tensor, (N, C, 1, 1) float
        An empty region gives mean 0 and std ``sqrt(eps)`` (no NaN).
    """
    weight = mask.sum(dim=(2, 3), keepdim=True)
    mean = (x * mask).sum(dim=(2, 3), keepdim=True) / weight.clamp(min=1e-6)
    var = (((x - mean) ** 2) * mask).sum(dim=(2, 3), keepdim=True) / weight.clamp(min=1e-6)
    return mean, torch.sqrt(var + eps)


class StyleFusion(nn.Module):
    """RCL's external style fusion (RCL section III-A, eqs. 1-7).

    The decoder's foreground features are normalised with the mean/std of the *encoder's* background
    features (external guidance), the decoder's background with its own background statistics; each is
    then scaled and shifted by AdaIN-style affine functions ``f_s``, ``f_b`` (1x1 convolutions of the
    normalised map) and the two regions are added back together. All fusion parameters start at zero,
    so at initialisation the block returns ``D`` unchanged (a residual form, ``D + psi(...)``: the
    paper's ``D_hat = psi(D_fg) + psi(D_bg)`` with zero-initialised affines would zero the decoder
    features; the residual keeps the untrained decoder working and is our reading of "initialised as 0").
    """

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Conv2d(channels, channels, 1)
        self.shift = nn.Conv2d(channels, channels, 1)
        for conv in (self.scale, self.shift):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
            conv._keep_init = True  # init_normal must not overwrite the zero start

    def forward(self, dec: torch.Tensor, enc: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fuse the encoder's background style into the decoder's foreground.

        Parameters
        ----------
        dec : torch.Tensor, (N, C, H, W) float
            Decoder features ``D``.
        enc : torch.Tensor, (N, C, H, W) float
            Encoder features ``E`` at the same resolution (the external style reference).
        mask : torch.Tensor, (N, 1, H0, W0) float in [0, 1]
            Foreground mask (resized to ``(H, W)``).

        Returns
        -------
        torch.Tensor, (N, C, H, W) float
            ``D + psi(norm_E(D) * M) + psi(norm_D(D) * (1 - M))`` with ``psi(z) = f_s(z) * z + f_b(z)``.

        References
        ----------
        .. [1] J. Liang, C.-M. Pun et al., "Image Harmonization with Region-wise Contrastive Learning",
           Section III-A, Eqs. 1-7.
        """
        m = resize_mask(mask, dec.shape[-2:])
        bg = 1.0 - m
        mu_e, sd_e = masked_mean_std(enc, bg)
        mu_d, sd_d = masked_mean_std(dec, bg)
        fg_norm = (dec - mu_e) / sd_e * m
        bg_norm = (dec - mu_d) / sd_d * bg
        fused = (self.scale(fg_norm) * fg_norm + self.shift(fg_norm)) * m \
            + (self.scale(bg_norm) * bg_norm + self.shift(bg_norm)) * bg
        return dec + fused


class ProjectionMLP(nn.Module):
    """Two-layer MLP embedding (Linear-ReLU-Linear) followed by L2 normalisation (CUT's projection head)."""

    def __init__(self, cin: int, hidden: int = 256, cout: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(cin, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed and L2-normalise.

        Parameters
        ----------
        x : torch.Tensor, (..., cin) float

        Returns
        -------
        torch.Tensor, (..., cout) float
            Unit vectors along the last axis.
        """
        return F.normalize(self.net(x), dim=-1)


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """Initialise weights as pix2pix does, in place.

    N(0, ``std``) for convolution and linear weights, zero biases, BatchNorm weights N(1, ``std``);
    modules with a true ``_keep_init`` attribute (the zero-initialised style fusion) are left alone.

    Parameters
    ----------
    module : torch.nn.Module
        Every sub-module is visited.
    std : float, default 0.02
        Standard deviation of the normal draws.

    References
    ----------
    .. [1] P. Isola, J.-Y. Zhu, T. Zhou, A. A. Efros, "Image-to-Image Translation with Conditional
       Adversarial Networks", CVPR 2017.
    """
    for m in module.modules():
        if getattr(m, "_keep_init", False):
            continue
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters of a module.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    int
        Sum of ``numel()`` over ``module.parameters()`` (trainable or not).
    """
    return sum(p.numel() for p in module.parameters())
