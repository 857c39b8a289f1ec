"""Region-wise contrastive learning with external style fusion (RCL; Liang, Pun et al., "Image
Harmonization with Region-wise Contrastive Learning", section III).

What follows the paper:

- Base network (III-A): the composite and mask, downsampled to the network's side (256 for
  ``rcl_paper``; done by the adapter), go through a residual U-Net (ResUNet) encoder/decoder; every
  decoder level has an S2AM spatial-separated attention module and an external style fusion layer:
  the decoder's foreground is normalised with the mean/std of the *encoder's* background features at the
  same level (eq. 4), the decoder's background with its own background statistics (eq. 5), each passes
  AdaIN-style affine functions f_s, f_b initialised at zero (eqs. 6-7), and the two regions are added.
- Region-wise contrastive loss (III-B): the harmonized output's foreground and the ground truth's
  background are cut into 8x8 patches centred on the cells of a 4x-downsampled sampling map; K of each
  (K = 256 in ``rcl_paper``) are drawn at random and embedded by one shared two-layer MLP; negatives come
  from the harmonized foreground, positives from the ground-truth background; eq. 11 with tau = 0.07,
  averaged over the images (eq. 12).
- Total loss (eq. 13): 0.4 L1(whole image) + 0.5 L1(foreground) + 0.1 L_HCL; AdamW, lr 1e-3, batch 8.

What differs and why:

- The paper does not define the query vectors v_bg and v_fg of eq. 11. We use the (normalised) mean
  embedding of the positive patches for v_bg, and the mean embedding of the *composite's* foreground
  patches at the negative locations for v_fg: minimising eq. 11 then pulls the background patches
  together and pushes the harmonized foreground away from the composite's inharmonious foreground style.
- S2AM (:class:`harmony.models.blocks.S2AM`) and the fusion layer's residual form are our reading of the
  cited papers (see their docstrings); the ResUNet's widths are not published: ``rcl_paper`` uses
  64-128-256-512 with two bottleneck residual blocks, the closest count we found to the reported
  28.37M (see docs/models.md).
- The output layer predicts a change added to the composite (the paper does not say).

Options (defaults = the paper's model):

- ``style_fusion=False`` builds no external style fusion layers (no fusion parameters; every decoder
  level keeps its S2AM): Table VI rows 1-2 ("without S.F."), used by ``harmony study ablations``.
  ``lambdas=(w1, w2, 0)`` drops L_HCL (rows 2-3) and ``(w1, 0, 0)`` also L_pixel (row 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import HarmonyNet, to_signed
from .blocks import S2AM, ProjectionMLP, ResBlock, StyleFusion, conv_norm_act, init_normal, resize_mask

PATCH = 8
STRIDE = 4


def region_contrastive_loss(v_bg: torch.Tensor, v_fg: torch.Tensor, positives: torch.Tensor,
                            negatives: torch.Tensor, tau: float = 0.07) -> torch.Tensor:
    """Region-wise contrastive loss of one image (Eq. 11).

    ``mean_i -log(exp(v_bg . P_i / tau) / (exp(v_bg . P_i / tau) + sum_k exp(v_fg . N_k / tau)))``,
    computed with ``logaddexp`` / ``logsumexp`` (no overflow).

    Parameters
    ----------
    v_bg, v_fg : torch.Tensor, (D,) float
        Query vectors of the background and foreground styles (unit length).
    positives : torch.Tensor, (K, D) float
        Embedded ground-truth background patches.
    negatives : torch.Tensor, (K', D) float
        Embedded harmonized foreground patches.
    tau : float, default 0.07
        Temperature.

    Returns
    -------
    torch.Tensor, () float, >= 0

    References
    ----------
    .. [1] J. Liang, C.-M. Pun et al., "Image Harmonization with Region-wise Contrastive Learning",
       Section III.
    """
    pos = positives @ v_bg / tau                       # (K,)
    neg = negatives @ v_fg / tau                       # (K',)
    neg_lse = torch.logsumexp(neg, dim=0)              # log sum_k exp(neg_k)
    # log(exp(pos) + exp(neg_lse)) - pos, computed stably
    return (torch.logaddexp(pos, neg_lse.expand_as(pos)) - pos).mean()


def cell_patches(image: torch.Tensor) -> torch.Tensor:
    """8x8 patches centred on every cell of the 4x-downsampled sampling map.

    Parameters
    ----------
    image : torch.Tensor, (N, 3, H, W) float
        ``H`` and ``W`` multiples of 4.

    Returns
    -------
    torch.Tensor, (N, H/4 * W/4, 3 * 8 * 8) float
        Row-major cells; patches overlap by 4 pixels and are zero-padded at the border.
    """
    return F.unfold(image, PATCH, stride=STRIDE, padding=(PATCH - STRIDE) // 2).transpose(1, 2)


def _pick(valid: torch.Tensor, k: int) -> torch.Tensor:
    """k random indices among the True entries (with replacement when there are fewer than k)."""
    idx = torch.nonzero(valid, as_tuple=False).flatten()
    if idx.numel() >= k:
        return idx[torch.randperm(idx.numel())[:k]]
    return idx[torch.randint(idx.numel(), (k,))]


class RCLNet(HarmonyNet):
    """ResUNet + S2AM + external style fusion, trained with the region-wise contrastive loss.

    See the module docstring for the architecture and what differs from the paper; the constructor's
    ``lambdas`` weight L1, L_pixel and L_HCL (Eq. 13), ``patches`` is K, ``tau`` the temperature and
    ``style_fusion=False`` builds the "without S.F." ablation.

    References
    ----------
    .. [1] J. Liang, C.-M. Pun et al., "Image Harmonization with Region-wise Contrastive Learning",
       Section III.
    """

    model_name = "rcl"

    def __init__(self, size: int = 64, widths: Sequence[int] = (16, 32, 64), bottleneck_blocks: int = 2,
                 patches: int = 256, tau: float = 0.07, lambdas: Sequence[float] = (0.4, 0.5, 0.1),
                 mlp_dim: int = 256, style_fusion: bool = True):
        widths = tuple(int(w) for w in widths)
        super().__init__(size=int(size), widths=widths, bottleneck_blocks=int(bottleneck_blocks),
                         patches=int(patches), tau=float(tau), lambdas=tuple(float(x) for x in lambdas),
                         mlp_dim=int(mlp_dim), style_fusion=bool(style_fusion))
        self.multiple = max(2 ** (len(widths) - 1), STRIDE)
        self.patches = int(patches)
        self.tau = float(tau)
        self.lambdas = tuple(float(x) for x in lambdas)
        self.stem = nn.Sequential(conv_norm_act(4, widths[0], 3), ResBlock(widths[0], widths[0]))
        self.down = nn.ModuleList()
        for i in range(1, len(widths)):
            self.down.append(nn.Sequential(conv_norm_act(widths[i - 1], widths[i], 4, 2), ResBlock(widths[i], widths[i])))
        self.bottleneck = nn.Sequential(*[ResBlock(widths[-1], widths[-1]) for _ in range(bottleneck_blocks)])
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for i in reversed(range(len(widths) - 1)):
            self.up.append(conv_norm_act(widths[i + 1], widths[i], 4, 2, transposed=True))
            self.merge.append(ResBlock(2 * widths[i], widths[i]))
        self.attention = nn.ModuleList([S2AM(w) for w in reversed(widths)])
        # None: Table VI rows 1-2 (no external style fusion)
        self.fusion = nn.ModuleList([StyleFusion(w) for w in reversed(widths)]) if style_fusion else None
        self.head = nn.Conv2d(widths[0], 3, 3, padding=1)
        self.mlp = ProjectionMLP(3 * PATCH * PATCH, mlp_dim, mlp_dim)
        init_normal(self)

    def forward(self, composite: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Harmonize composites.

        Parameters
        ----------
        composite : torch.Tensor, (N, 3, H, W) float in [0, 1]
            ``H`` and ``W`` multiples of ``2**(len(widths) - 1)``.
        mask : torch.Tensor, (N, 1, H, W) float in [0, 1]

        Returns
        -------
        torch.Tensor, (N, 3, H, W) float in [0, 1]
            Composite plus the predicted change, clamped.
        """
        return self._predict(composite, mask).clamp(0.0, 1.0)

    def _predict(self, composite: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.stem(torch.cat([to_signed(composite), to_signed(mask)], 1))
        enc = [x]
        for layer in self.down:
            x = layer(x)
            enc.append(x)
        d = self.bottleneck(x)
        n = len(enc)
        for k in range(n):
            level = n - 1 - k
            if k > 0:
                d = self.merge[k - 1](torch.cat([self.up[k - 1](d), enc[level]], 1))
            d = self.attention[k](d, mask)
            if self.fusion is not None:
                d = self.fusion[k](d, enc[level], mask)
        return composite + self.head(d)

    def contrastive(self, pred: torch.Tensor, real: torch.Tensor, composite: torch.Tensor,
                    mask: torch.Tensor) -> torch.Tensor:
        """L_HCL (Eq. 12): Eq. 11 averaged over the images that have both foreground and background cells.

        Parameters
        ----------
        pred : torch.Tensor, (N, 3, H, W) float
            Harmonized output (negatives from its foreground).
        real : torch.Tensor, (N, 3, H, W) float
            Ground truth (positives from its background).
        composite : torch.Tensor, (N, 3, H, W) float
            The composite (``v_fg`` from its foreground at the negatives' cells).
        mask : torch.Tensor, (N, 1, H, W) float in [0, 1]

        Returns
        -------
        torch.Tensor, () float
            0 (with a graph) when no image has both regions.

        References
        ----------
        .. [1] J. Liang, C.-M. Pun et al., "Image Harmonization with Region-wise Contrastive Learning",
           Section III.
        """
        cells = resize_mask(mask, (pred.shape[-2] // STRIDE, pred.shape[-1] // STRIDE)).flatten(1)  # (B, cells)
        neg_patches = cell_patches(pred * mask)
        pos_patches = cell_patches(real * (1.0 - mask))
        comp_patches = cell_patches(composite * mask)
        losses = []
        for b in range(pred.shape[0]):
            fg, bg = cells[b] > 0.5, cells[b] <= 0.5
            if not fg.any() or not bg.any():
                continue
            neg_idx, pos_idx = _pick(fg, self.patches), _pick(bg, self.patches)
            negatives = self.mlp(neg_patches[b, neg_idx])
            positives = self.mlp(pos_patches[b, pos_idx])
            v_bg = F.normalize(positives.mean(0), dim=0)
            v_fg = F.normalize(self.mlp(comp_patches[b, neg_idx]).mean(0), dim=0)
            losses.append(region_contrastive_loss(v_bg, v_fg, positives, negatives, self.tau))
        if not losses:
            return pred.sum() * 0.0
        return torch.stack(losses).mean()

    def training_losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """RCL's objective (Eq. 13): ``w1 L1 + w2 L_pixel + w3 L_HCL``.

        Parameters
        ----------
        batch : mapping
            ``composite``, ``real`` (N, 3, H, W) and ``mask`` (N, 1, H, W), float in [0, 1].

        Returns
        -------
        dict of str to torch.Tensor
            ``l1`` (mean absolute error, whole image), ``pixel`` (mean absolute error in the foreground),
            ``hcl`` and ``total``.

        References
        ----------
        .. [1] J. Liang, C.-M. Pun et al., "Image Harmonization with Region-wise Contrastive Learning",
           Section III.
        """
        comp, mask, real = batch["composite"], batch["mask"], batch["real"]
        pred = self._predict(comp, mask)
        err = (pred - real).abs()
        l1 = err.mean()
        pixel = (err * mask).sum() / (3.0 * mask.sum()).clamp(min=1.0)
        hcl = self.contrastive(pred, real, comp, mask)
        lam1, lam2, lam3 = self.lambdas
        return {"total": lam1 * l1 + lam2 * pixel + lam3 * hcl, "l1": l1, "pixel": pixel, "hcl": hcl}
