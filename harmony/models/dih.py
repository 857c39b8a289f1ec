"""Deep Image Harmonization (DIH; Tsai et al., "Deep Image Harmonization", CVPR 2017, sections 3.2-3.3).

What follows the paper:

- Input: the composite concatenated with its mask (H x W x 4); output: the harmonized image.
- Encoder: stride-2 convolutions only (no pooling) down to a small map, then a fully connected layer;
  decoder: mirrored stride-2 deconvolutions; a skip link from every encoder convolution to the decoder
  layer of the same resolution (concatenation); batch normalisation + ELU after every (de)convolution
  except the output layer (BN's learned scale is the paper's "scaling layer").
- Loss: L2 reconstruction over the whole image (section 3.2: "on the entire image rather than the
  foreground mask").
- Joint scene parsing (section 3.3), enabled when ``num_classes > 0`` (the trainer sets it when the
  training data carries label maps; ``semantic=False`` turns it off regardless, the paper's "w/o semantics"
  ablation row of Tables 2-3): a second decoder with the same skip links from the shared encoder
  predicts per-pixel labels (softmax cross-entropy); the feature maps of every parsing deconvolution
  except the last are concatenated into the harmonization decoder; ``L = lambda1 L_rec + lambda2 L_cro``
  with lambda1 = 1, lambda2 = 100; then the parsing decoder is frozen (lambda2 = 0) and the rest is
  fine-tuned (``parsing_fraction`` of the steps are the joint stage).

What differs and why:

- The paper gives no layer widths; ``dih_paper`` uses the Context-Encoder-style widths its section 3.2
  cites: 4x4 stride-2 convolutions 64-128-256-512-512-512-512 from 512x512 to 4x4 and a 1024-d fully
  connected bottleneck (an assumption, reported with its parameter count in docs/models.md).
- Both losses are per-pixel means instead of Caffe sums (same ratio between them; the sum only rescales
  the paper's 1e-8 learning rate). We train with Adam instead of SGD at lr 1e-8 (impractical here).
- ``output="residual"`` (used by ``dih_tiny``) adds the decoder's output to the composite so a few CPU
  minutes of training start from the identity; ``dih_paper`` keeps the paper's direct reconstruction.
- Higher-resolution output by joint bilateral upsampling is replaced by the adapter's residual upsampling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .base import HarmonyNet
from .blocks import conv_norm_act, init_normal

IGNORE_LABEL = 255


class _Decoder(nn.Module):
    """Mirrored deconvolutions; level i takes [previous, encoder skip i, (extra features i)]."""

    def __init__(self, widths: Sequence[int], out_channels: int, extra: Sequence[int] | None = None,
                 norm: str = "batch"):
        super().__init__()
        n = len(widths)
        extra = list(extra) if extra is not None else [0] * n
        layers = []
        cin = widths[-1]
        # level n-1 (deepest) ... level 0; output of level i has the resolution of encoder level i-1
        for i in reversed(range(n)):
            cin_i = cin + widths[i] + extra[i]
            if i == 0:
                layers.append(nn.ConvTranspose2d(cin_i, out_channels, 4, 2, 1))
            else:
                layers.append(conv_norm_act(cin_i, widths[i - 1], 4, 2, norm=norm, act="elu", transposed=True))
                cin = widths[i - 1]
        self.layers = nn.ModuleList(layers)

    def forward(self, bottleneck: torch.Tensor, skips: Sequence[torch.Tensor],
                extras: Sequence[torch.Tensor | None] | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        n = len(skips)
        x = bottleneck
        feats = []
        for k, layer in enumerate(self.layers):
            i = n - 1 - k
            parts = [x, skips[i]]
            if extras is not None and extras[i] is not None:
                parts.append(extras[i])
            x = layer(torch.cat(parts, 1))
            feats.append(x)
        return x, feats


class DIH(HarmonyNet):
    """DIH encoder-decoder with skip links and an optional scene-parsing decoder.

    Parameters
    ----------
    size : int, default 64
        Input side (fixed: the bottleneck is fully connected); divisible by ``2**len(widths)``.
    widths : sequence of int
        Channels of the stride-2 encoder levels (mirrored by the decoder).
    fc_dim : int, default 128
        Width of the fully connected bottleneck.
    num_classes : int, default 0
        Scene-parsing classes (0: no parsing decoder); set from the training data's label maps.
    lambdas : (float, float), default (1, 100)
        ``lambda1`` (reconstruction) and ``lambda2`` (parsing cross-entropy).
    parsing_fraction : float, default 0.5
        Fraction of the steps trained jointly before the parsing decoder is frozen.
    output : {"direct", "residual"}
        ``direct``: sigmoid image (the paper); ``residual``: composite + tanh change.
    semantic : bool, default True
        False: no parsing decoder even with label maps (the paper's "w/o semantics" rows).
    norm : str, default "batch"
        Normalisation of the (de)convolutions (see :func:`harmony.models.blocks.make_norm`).

    References
    ----------
    .. [1] Y.-H. Tsai, X. Shen, Z. Lin, K. Sunkavalli, X. Lu, M.-H. Yang, "Deep Image Harmonization",
       CVPR 2017, Sections 3.2-3.3.
    """

    model_name = "dih"
    fixed_size = True
    optional_inputs = ("labels",)

    def __init__(self, size: int = 64, widths: Sequence[int] = (16, 32, 64, 64), fc_dim: int = 128,
                 num_classes: int = 0, lambdas: Sequence[float] = (1.0, 100.0), parsing_fraction: float = 0.5,
                 output: str = "direct", semantic: bool = True, norm: str = "batch"):
        widths = tuple(int(w) for w in widths)
        # semantic=False: the paper's "Ours (w/o semantics)" row (Tables 2-3): no parsing decoder even when the
        # training data carries label maps (the maps are then ignored; the config records num_classes 0).
        num_classes = int(num_classes) if semantic else 0
        super().__init__(size=int(size), widths=widths, fc_dim=int(fc_dim), num_classes=num_classes,
                         lambdas=tuple(float(x) for x in lambdas), parsing_fraction=float(parsing_fraction),
                         output=output, semantic=bool(semantic))
        if norm != "batch":        # recorded only when not the paper's BN (older checkpoints stay valid)
            self.config["norm"] = norm
        if size % (2 ** len(widths)):
            raise ValueError(f"size {size} must be divisible by 2**{len(widths)} (one halving per level)")
        if output not in ("direct", "residual"):
            raise ValueError(f"output: expected direct | residual, got {output!r}")
        self.multiple = 2 ** len(widths)
        self.output = output
        self.num_classes = int(num_classes)
        self.lambdas = tuple(float(x) for x in lambdas)
        self.parsing_fraction = float(parsing_fraction)
        enc = []
        cin = 4
        for w in widths:
            enc.append(conv_norm_act(cin, w, 4, 2, norm=norm, act="elu"))
            cin = w
        self.encoder = nn.ModuleList(enc)
        self.bottom = size // 2 ** len(widths)
        flat = widths[-1] * self.bottom * self.bottom
        self.fc = nn.Sequential(nn.Linear(flat, fc_dim), nn.ELU(inplace=True), nn.Linear(fc_dim, flat),
                                nn.ELU(inplace=True))
        if self.num_classes > 0:
            self.parsing = _Decoder(widths, self.num_classes, norm=norm)
            # parsing features of every deconvolution except the last go into the harmonization decoder
            # decoder level i receives the parsing output of the level above it (resolution of level i)
            extra = [widths[i] if i < len(widths) - 1 else 0 for i in range(len(widths))]
            self.decoder = _Decoder(widths, 3, extra, norm=norm)
        else:
            self.parsing = None
            self.decoder = _Decoder(widths, 3, norm=norm)
        self._parsing_frozen = False
        init_normal(self)

    def _encode(self, composite: torch.Tensor, mask: torch.Tensor):
        x = torch.cat([composite * 2 - 1, mask * 2 - 1], 1)
        skips = []
        for layer in self.encoder:
            x = layer(x)
            skips.append(x)
        b = self.fc(x.flatten(1)).view_as(x)
        return b, skips

    def forward_all(self, composite: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Harmonized image and scene-parsing logits.

        Parameters
        ----------
        composite : torch.Tensor, (N, 3, size, size) float in [0, 1]
        mask : torch.Tensor, (N, 1, size, size) float in [0, 1]
            Foreground mask (the fully connected bottleneck fixes the side to ``size``).

        Returns
        -------
        image : torch.Tensor, (N, 3, size, size) float
            In [0, 1] in eval mode (unclamped while training, so the loss sees the raw output).
        logits : torch.Tensor, (N, num_classes, size, size) float, or None
            None without a parsing decoder.

        Raises
        ------
        ValueError
            When the input is not ``size x size``.
        """
        if composite.shape[-1] != self.size or composite.shape[-2] != self.size:
            raise ValueError(f"dih: expected {self.size}x{self.size} input (fully connected bottleneck), "
                             f"got {composite.shape[-1]}x{composite.shape[-2]}")
        b, skips = self._encode(composite, mask)
        logits = None
        extras = None
        if self.parsing is not None:
            logits, feats = self.parsing(b, skips)
            n = len(skips)
            # feats[k] has the resolution of encoder level n-2-k (the input of decoder level n-2-k)
            extras = [None] * n
            for k, f in enumerate(feats[:-1]):
                extras[n - 2 - k] = f
        out, _ = self.decoder(b, skips, extras)
        if self.output == "residual":
            img = composite + torch.tanh(out)
        else:
            img = torch.sigmoid(out)
        return img.clamp(0.0, 1.0) if not self.training else img, logits

    def forward(self, composite: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Harmonize composites.

        Parameters
        ----------
        composite : torch.Tensor, (N, 3, size, size) float in [0, 1]
        mask : torch.Tensor, (N, 1, size, size) float in [0, 1]
            Foreground mask (the fully connected bottleneck fixes the side to ``size``).

        Returns
        -------
        torch.Tensor, (N, 3, size, size) float in [0, 1]
        """
        return self.forward_all(composite, mask)[0].clamp(0.0, 1.0)

    # -- training ----------------------------------------------------------------------------------
    def on_train_step(self, step: int, total_steps: int) -> None:
        """Two training stages: joint for the first ``parsing_fraction`` of the steps, then the parsing decoder
        is frozen (weights and BN statistics) and ``lambda2`` is 0.

        Parameters
        ----------
        step : int
            0-based step about to run.
        total_steps : int
        """
        if self.parsing is None:
            return
        frozen = step >= int(self.parsing_fraction * total_steps)
        self._parsing_frozen = frozen
        for p in self.parsing.parameters():
            p.requires_grad_(not frozen)
        if frozen:
            self.parsing.eval()

    def training_losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """DIH's objective: ``lambda1 L_rec + lambda2 L_cro`` (Eq. 1 and Section 3.3).

        Parameters
        ----------
        batch : mapping
            ``composite``, ``real`` (N, 3, size, size) and ``mask`` (N, 1, size, size), float in [0, 1];
            optional ``labels`` (N, size, size) int, 255 = ignored.

        Returns
        -------
        dict of str to torch.Tensor
            ``rec`` (half the summed squared RGB error, averaged over pixels), ``cro`` (parsing cross-entropy,
            present in the joint stage when labels are given) and ``total``.

        References
        ----------
        .. [1] Y.-H. Tsai, X. Shen, Z. Lin, K. Sunkavalli, X. Lu, M.-H. Yang, "Deep Image Harmonization",
           CVPR 2017, Sections 3.2-3.3.
        """
        pred, logits = self.forward_all(batch["composite"], batch["mask"])
        # paper eq. 1 (1/2 sum of squared norms) as a per-pixel mean
        rec = 0.5 * ((pred - batch["real"]) ** 2).sum(1).mean()
        losses = {"rec": rec}
        lam1, lam2 = self.lambdas
        total = lam1 * rec
        labels = batch.get("labels")
        if logits is not None and labels is not None and not self._parsing_frozen:
            cro = F.cross_entropy(logits, labels.long(), ignore_index=IGNORE_LABEL)
            if torch.isfinite(cro):
                losses["cro"] = cro
                total = total + lam2 * cro
        losses["total"] = total
        return losses

    @classmethod
    def data_overrides(cls, info: Mapping[str, Any]) -> dict[str, Any]:
        """The parsing decoder is trained when the data has label maps, and disabled otherwise.

        Parameters
        ----------
        info : mapping
            ``num_classes`` found in the training data.

        Returns
        -------
        dict
            ``{"num_classes": n}``.
        """
        return {"num_classes": int(info.get("num_classes", 0))}
