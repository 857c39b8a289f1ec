"""BargainNet (Cong et al., "BargainNet: Background-Guided Domain Translation for Image Harmonization",
ICME 2021, section 3 and supplement section 2).

What follows the paper:

- Domain code extractor E: five partial convolutions (kernel 3, stride 2), each followed by ReLU and
  batch normalisation except the last, adaptive average pooling and a 1x1 convolution to an
  L = 16 dimensional code (supplement section 2). Given an image and a region mask, the code depends only
  on the pixels inside the region (partial convolution).
- Generator G: DoveNet's attention-enhanced U-Net (pix2pix U-Net: 4x4 stride-2 convolutions, LeakyReLU
  0.2 / ReLU, BN, ``levels`` halvings, ngf 64, the decoder's concatenated skip features re-weighted by a
  learned sigmoid attention map) fed with the composite, the foreground mask and the background code
  replicated spatially: an (L + 4)-channel input (section 3.2).
- Losses (eqs. 1-3): ``L_rec = |I_hat - I|_1``; ``L_fb = max(d(z_hat_f, z_b) - d(z_hat_f, z_tilde_f) + m, 0)``;
  ``L_ff = max(d(z_f, z_hat_f) - d(z_f, z_tilde_f) + m, 0)``; d Euclidean, m = 1, lambda = 0.01.
- Weights initialised from N(0, 0.02) (supplement section 2).
- By-products: the inharmony score ``d(E(I_tilde, M), E(I_tilde, 1 - M))`` (section 4.5) and background
  harmonization with the inverted mask (supplement section 6) - see :func:`inharmony_scores` and
  :func:`harmony.models.adapter.harmonize_background`.

What differs and why:

- The paper omits the generator's details ("we adopt attention-enhanced U-net proposed in [3]"); the
  attention block here is a 1x1 convolution + sigmoid gating the concatenated skip/decoder features at
  every level (our reading of DoveNet's). The extractor's widths are not published: 64-128-256-256-256.
- The adaptive average pooling averages over the positions the last partial convolution marks valid (a
  plain average would let the region's area leak into the code).
- ``output="residual"`` (``bargainnet_tiny``) adds the tanh output to the composite so short CPU training
  starts from the identity; ``bargainnet_paper`` keeps pix2pix's direct tanh output.

Options for the supplement's input ablation (Table 2; defaults = the paper's model, row 3):

- ``mask_input=False``: the generator gets no foreground mask channel (rows 6-7).
- ``code_input``: the code map fed to the generator: ``"background"`` (z_b, the paper's), ``"whole"``
  (the code of the whole composite, E(I_tilde, 1); row 8) or ``"none"`` (no code channels: DoveNet's
  attention U-Net on composite + mask; row 1). The generator's input has
  ``3 + mask_input + code_dim * (code_input != "none")`` channels.
- ``lambda_ff`` / ``lambda_fb``: separate weights of L_ff and L_fb (rows 4-5); ``None`` = ``lambda_tri``.
  The triplet losses are always those of eqs. 2-3 (anchored on the background code z_b), whatever
  ``code_input`` feeds the generator; the supplement does not say otherwise for row 8.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import HarmonyNet, to_signed, to_unit
from .blocks import PartialConv2d, init_normal

#: values of BargainNet's ``code_input`` (supplement Table 2: z_b, the whole-image code, no code)
CODE_INPUTS = ("background", "whole", "none")


class DomainCodeExtractor(nn.Module):
    """BargainNet's domain code extractor E(image, region mask) -> (N, code_dim) code.

    Five partial convolutions (kernel 3, stride 2; ReLU and batch normalisation after all but the last),
    an average over the valid positions and a 1x1 convolution to the code.

    Parameters
    ----------
    in_channels : int, default 3
    widths : sequence of 5 int
        Channels of the partial convolutions (not published; the paper preset uses 64-128-256-256-256).
    code_dim : int, default 16
        Code length ``L``.

    References
    ----------
    .. [1] W. Cong, L. Niu, J. Zhang, J. Liang, L. Zhang, "BargainNet: Background-Guided Domain
       Translation for Image Harmonization", ICME 2021.
    """

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = (64, 128, 256, 256, 256), code_dim: int = 16):
        super().__init__()
        if len(widths) != 5:
            raise ValueError(f"extractor_widths: the paper's extractor has 5 partial convolutions, got {len(widths)}")
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        cin = in_channels
        for i, w in enumerate(widths):
            self.convs.append(PartialConv2d(cin, w, 3, 2, 1))
            self.norms.append(nn.BatchNorm2d(w) if i < len(widths) - 1 else nn.Identity())
            cin = w
        self.proj = nn.Conv2d(cin, code_dim, 1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The domain code of the region of ``image`` under ``mask``.

        Parameters
        ----------
        image : torch.Tensor, (N, in_channels, H, W) float in [-1, 1]
        mask : torch.Tensor, (N, 1, H, W) float in {0, 1}
            Region the code describes; pixels outside it do not change the code.

        Returns
        -------
        torch.Tensor, (N, code_dim) float
        """
        x, m = image, mask
        last = len(self.convs) - 1
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x, m = conv(x, m)
            if i < last:
                x = norm(F.relu(x)) * m
        pooled = (x * m).sum(dim=(2, 3), keepdim=True) / m.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
        return self.proj(pooled).flatten(1)


class AttentionUNet(nn.Module):
    """pix2pix U-Net with a learned sigmoid attention map on every concatenated skip (DoveNet's generator).

    Parameters
    ----------
    in_channels : int
        Input channels (composite, mask, code map).
    out_channels : int, default 3
    ngf : int, default 64
        Width of the first level; level ``i`` has ``ngf * min(2**i, 8)`` channels.
    levels : int, default 8
        Number of stride-2 halvings; inputs must be multiples of ``2**levels``.

    References
    ----------
    .. [1] W. Cong, J. Zhang, L. Niu, L. Liu, Z. Ling, W. Li, L. Zhang, "DoveNet: Deep Image
       Harmonization via Domain Verification", CVPR 2020.
    """

    def __init__(self, in_channels: int, out_channels: int = 3, ngf: int = 64, levels: int = 8):
        super().__init__()
        widths = [ngf * min(2 ** i, 8) for i in range(levels)]
        self.widths = widths
        self.down = nn.ModuleList()
        for i, w in enumerate(widths):
            if i == 0:
                self.down.append(nn.Conv2d(in_channels, w, 4, 2, 1, bias=False))
            elif i == levels - 1:
                self.down.append(nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(widths[i - 1], w, 4, 2, 1, bias=False)))
            else:
                self.down.append(nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(widths[i - 1], w, 4, 2, 1, bias=False),
                                               nn.BatchNorm2d(w)))
        self.up = nn.ModuleList()
        self.attention = nn.ModuleList()
        for i in reversed(range(levels)):
            cin = widths[i] if i == levels - 1 else 2 * widths[i]
            if i < levels - 1:
                self.attention.append(nn.Sequential(nn.Conv2d(cin, cin, 1), nn.Sigmoid()))
            if i == 0:
                self.up.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(cin, out_channels, 4, 2, 1), nn.Tanh()))
            else:
                self.up.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(cin, widths[i - 1], 4, 2, 1, bias=False),
                                             nn.BatchNorm2d(widths[i - 1])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the U-Net.

        Parameters
        ----------
        x : torch.Tensor, (N, in_channels, H, W) float
            ``H`` and ``W`` multiples of ``2**levels``.

        Returns
        -------
        torch.Tensor, (N, out_channels, H, W) float in [-1, 1]
            The tanh output.
        """
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        n = len(skips)
        y = self.up[0](skips[-1])
        for k in range(1, n):
            cat = torch.cat([skips[n - 1 - k], y], 1)
            cat = cat * self.attention[k - 1](cat)
            y = self.up[k](cat)
        return y


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Triplet loss ``max(d(a, p) - d(a, n) + margin, 0)`` with Euclidean ``d``, averaged over the batch.

    Parameters
    ----------
    anchor, positive, negative : torch.Tensor, (N, L) float
        Domain codes.
    margin : float, default 1.0
        ``m`` of BargainNet's Eqs. 2-3.

    Returns
    -------
    torch.Tensor, () float, >= 0

    References
    ----------
    .. [1] W. Cong, L. Niu, J. Zhang, J. Liang, L. Zhang, "BargainNet: Background-Guided Domain
       Translation for Image Harmonization", ICME 2021.
    """
    d_pos = torch.linalg.vector_norm(anchor - positive, dim=1)
    d_neg = torch.linalg.vector_norm(anchor - negative, dim=1)
    return F.relu(d_pos - d_neg + margin).mean()


class BargainNet(HarmonyNet):
    """Background-guided domain translation network (attention U-Net generator + domain code extractor).

    Parameters
    ----------
    size : int, default 64
        Side the network runs at (the adapter resizes to it); a multiple of ``2**levels``.
    ngf, levels : int
        Width and depth of the :class:`AttentionUNet`.
    code_dim : int, default 16
        Domain code length ``L``.
    extractor_widths : sequence of 5 int
        Channels of the :class:`DomainCodeExtractor`.
    margin : float, default 1.0
        Triplet margin ``m``.
    lambda_tri : float, default 0.01
        Weight of both triplet losses (``lambda`` of Eq. 4).
    output : {"direct", "residual"}
        ``direct``: the tanh output is the image (the paper); ``residual``: it is added to the composite.
    mask_input : bool, default True
        Feed the foreground mask to the generator (supplement Table 2, rows 6-7 drop it).
    code_input : {"background", "whole", "none"}
        Code fed to the generator: ``z_b`` (the paper), the whole image's code, or none (DoveNet's input).
    lambda_ff, lambda_fb : float, optional
        Separate weights of L_ff and L_fb (default ``lambda_tri``).

    References
    ----------
    .. [1] W. Cong, L. Niu, J. Zhang, J. Liang, L. Zhang, "BargainNet: Background-Guided Domain
       Translation for Image Harmonization", ICME 2021.
    """

    model_name = "bargainnet"

    def __init__(self, size: int = 64, ngf: int = 16, levels: int = 5, code_dim: int = 16,
                 extractor_widths: Sequence[int] = (16, 32, 32, 32, 32), margin: float = 1.0,
                 lambda_tri: float = 0.01, output: str = "direct", mask_input: bool = True,
                 code_input: str = "background", lambda_ff: float | None = None, lambda_fb: float | None = None):
        super().__init__(size=int(size), ngf=int(ngf), levels=int(levels), code_dim=int(code_dim),
                         extractor_widths=tuple(int(w) for w in extractor_widths), margin=float(margin),
                         lambda_tri=float(lambda_tri), output=output, mask_input=bool(mask_input),
                         code_input=code_input, lambda_ff=None if lambda_ff is None else float(lambda_ff),
                         lambda_fb=None if lambda_fb is None else float(lambda_fb))
        if output not in ("direct", "residual"):
            raise ValueError(f"output: expected direct | residual, got {output!r}")
        if code_input not in CODE_INPUTS:
            raise ValueError(f"code_input: expected {' | '.join(CODE_INPUTS)}, got {code_input!r}")
        self.multiple = 2 ** int(levels)
        self.output = output
        self.margin = float(margin)
        self.lambda_tri = float(lambda_tri)
        self.lambda_ff = self.lambda_tri if lambda_ff is None else float(lambda_ff)
        self.lambda_fb = self.lambda_tri if lambda_fb is None else float(lambda_fb)
        self.mask_input = bool(mask_input)
        self.code_input = code_input
        self.in_channels = 3 + int(self.mask_input) + (int(code_dim) if code_input != "none" else 0)
        self.extractor = DomainCodeExtractor(3, extractor_widths, code_dim)
        self.generator = AttentionUNet(self.in_channels, 3, ngf, levels)
        init_normal(self)

    def domain_code(self, image: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
        """Domain code of a region of an image.

        Parameters
        ----------
        image : torch.Tensor, (N, 3, H, W) float in [0, 1]
        region : torch.Tensor, (N, 1, H, W) float in {0, 1}
            1 = inside the region.

        Returns
        -------
        torch.Tensor, (N, code_dim) float
        """
        return self.extractor(to_signed(image), region)

    def forward(self, composite: torch.Tensor, mask: torch.Tensor, background_code: torch.Tensor | None = None) -> torch.Tensor:
        """Harmonize composites.

        Parameters
        ----------
        composite : torch.Tensor, (N, 3, H, W) float in [0, 1]
        mask : torch.Tensor, (N, 1, H, W) float in [0, 1]
            Foreground mask.
        background_code : torch.Tensor, (N, code_dim) float, optional
            The code fed to the generator (default: computed per ``code_input``).

        Returns
        -------
        torch.Tensor, (N, 3, H, W) float in [0, 1]
            The whole predicted image (the adapter pastes its foreground into the composite).
        """
        img = self._generate(composite, mask, background_code)
        return img.clamp(0.0, 1.0)

    def generator_code(self, composite: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
        """The code the generator is fed, per ``code_input``.

        Parameters
        ----------
        composite : torch.Tensor, (N, 3, H, W) float in [0, 1]
        mask : torch.Tensor, (N, 1, H, W) float in {0, 1}

        Returns
        -------
        torch.Tensor, (N, code_dim) float, or None
            ``E(C, 1 - M)`` (background), ``E(C, 1)`` (whole) or None (``code_input="none"``).
        """
        if self.code_input == "none":
            return None
        if self.code_input == "whole":
            return self.domain_code(composite, torch.ones_like(mask))
        return self.domain_code(composite, 1.0 - mask)

    def _generate(self, composite, mask, background_code=None):
        if background_code is None and self.code_input != "none":
            background_code = self.generator_code(composite, mask)
        h, w = composite.shape[-2:]
        parts = [to_signed(composite)]
        if self.mask_input:
            parts.append(to_signed(mask))
        if self.code_input != "none":
            parts.append(background_code[:, :, None, None].expand(-1, -1, h, w))
        out = self.generator(torch.cat(parts, 1))
        if self.output == "residual":
            return composite + out
        return to_unit(out)

    def training_losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """BargainNet's objective (Eqs. 1-4): L1 reconstruction plus the two triplet losses.

        Parameters
        ----------
        batch : mapping
            ``composite``, ``real`` (N, 3, H, W) and ``mask`` (N, 1, H, W), float in [0, 1].

        Returns
        -------
        dict of str to torch.Tensor
            Scalars ``total`` (``rec + lambda_ff * tri_ff + lambda_fb * tri_fb``), ``rec`` (mean absolute
            error), ``tri_fb`` (harmonized foreground closer to the background than the composite's
            foreground) and ``tri_ff`` (real foreground closer to the harmonized than to the composite's).

        References
        ----------
        .. [1] W. Cong, L. Niu, J. Zhang, J. Liang, L. Zhang, "BargainNet: Background-Guided Domain
           Translation for Image Harmonization", ICME 2021.
        """
        comp, mask, real = batch["composite"], batch["mask"], batch["real"]
        z_b = self.domain_code(comp, 1.0 - mask)
        pred = self._generate(comp, mask, z_b if self.code_input == "background" else None)
        rec = (pred - real).abs().mean()
        z_tilde_f = self.domain_code(comp, mask)
        z_f = self.domain_code(real, mask)
        z_hat_f = self.domain_code(pred, mask)
        l_fb = triplet_loss(z_hat_f, z_b, z_tilde_f, self.margin)
        l_ff = triplet_loss(z_f, z_hat_f, z_tilde_f, self.margin)
        if self.lambda_ff == self.lambda_fb:      # the paper's single lambda (same arithmetic as before)
            total = rec + self.lambda_ff * (l_ff + l_fb)
        else:
            total = rec + self.lambda_ff * l_ff + self.lambda_fb * l_fb
        return {"total": total, "rec": rec, "tri_fb": l_fb, "tri_ff": l_ff}

    def inharmony(self, composite: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Inharmony score: Euclidean distance between the foreground and background domain codes (Section 4.5).

        Parameters
        ----------
        composite : torch.Tensor, (N, 3, H, W) float in [0, 1]
        mask : torch.Tensor, (N, 1, H, W) float in {0, 1}

        Returns
        -------
        torch.Tensor, (N,) float, >= 0
            Larger means less harmonious.
        """
        z_f = self.domain_code(composite, mask)
        z_b = self.domain_code(composite, 1.0 - mask)
        return torch.linalg.vector_norm(z_f - z_b, dim=1)


def inharmony_scores(harmonizer, composites: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> list[float]:
    """Inharmony score of each composite with a BargainNet harmonizer (larger = less harmonious).

    Parameters
    ----------
    harmonizer : harmony.models.adapter.TorchHarmonizer
        Wrapping a :class:`BargainNet` (``METHODS.create("bargainnet", weights=...)``).
    composites : sequence of ndarray, (H, W, 3) float32 in [0, 1]
        Resized to the network's side as for harmonization.
    masks : sequence of ndarray, (H, W) float32 in [0, 1]
        Binarised at 0.5.

    Returns
    -------
    list of float
        One score per composite, ``||E(C, M) - E(C, 1 - M)||``.

    Raises
    ------
    ValueError
        When the network is not a BargainNet, an input breaks the numpy contract, or a mask covers the
        whole image (no background to compare with).

    References
    ----------
    .. [1] W. Cong, L. Niu, J. Zhang, J. Liang, L. Zhang, "BargainNet: Background-Guided Domain
       Translation for Image Harmonization", ICME 2021.
    """
    from .adapter import _check_input as _prepare

    net = harmonizer.network
    if not isinstance(net, BargainNet):
        raise ValueError(f"inharmony needs a BargainNet checkpoint, got {net.model_name!r}")
    scores: list[float] = []
    for i, (c, m) in enumerate(zip(composites, masks)):
        _prepare(c, m, harmonizer.min_size, f"inharmony input {i}")
        if m.min() > 0.5:
            raise ValueError(f"inharmony input {i}: mask covers the whole image (no background to compare with)")
        comp, mm, _ = harmonizer._to_model(c, m)
        with torch.no_grad():
            ct = torch.from_numpy(np.ascontiguousarray(comp.transpose(2, 0, 1)))[None].to(harmonizer.device)
            mt = torch.from_numpy(np.ascontiguousarray(mm))[None, None].to(harmonizer.device)
            scores.append(float(net.inharmony(ct, (mt > 0.5).to(ct.dtype))[0]))
    return scores
