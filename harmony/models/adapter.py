"""TorchHarmonizer: a trained network behind the numpy Harmonizer contract.

``harmonize(composite, mask) -> image``: float32 ``(H, W, 3)`` in [0, 1] and a float32 ``(H, W)`` mask in,
an image of the same shape out. Inside, the adapter

1. checks the inputs (contract, minimum size, a mask with at least one foreground pixel);
2. resizes image and mask to the network's side ``size`` (``None``: keeps the resolution and pads
   by reflection to a multiple of ``network.multiple``);
3. runs the network on ``device`` without gradients, several images per forward pass in
   :meth:`harmonize_batch`;
4. brings the prediction back to the input resolution. With ``upsample="residual"`` (default) the
   *change* the network made at low resolution is upsampled and added to the full-resolution composite,
   so the composite's detail survives (low-resolution methods are otherwise upsampled bilinearly, as in
   SPRIH Table 1, which is ``upsample="image"``);
5. optionally pastes the prediction into the foreground only (``paste=True``): the background is
   then exactly the composite's (``imageops.blend``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import imageops
from ..errors import InputError


def _prepare(composite: np.ndarray, mask: np.ndarray, min_size: int, name: str) -> None:
    imageops.check_pair(composite, mask)
    h, w = mask.shape
    if min(h, w) < min_size:
        raise InputError(f"{name}: image is {w}x{h}; the network needs at least {min_size}x{min_size}")
    if not (mask > 0.5).any():
        raise InputError(f"{name}: mask has no foreground pixel (nothing to harmonize)")


class TorchHarmonizer:
    """A :class:`~harmony.models.base.HarmonyNet` as a numpy Harmonizer.

    Parameters
    ----------
    network: the torch module (put in eval mode here).
    size: side the network runs at; ``None`` runs at the input resolution (padded to the multiple).
        Networks with ``fixed_size`` always run at their own ``size``.
    paste: keep the composite's background exactly (paste the prediction into the foreground).
    upsample: ``residual`` | ``image`` (see the module docstring).
    device: torch device string.
    batch_size: images per forward pass in :meth:`harmonize_batch`.
    name: used in error messages.
    """

    def __init__(self, network, *, size: int | None = None, paste: bool = True, upsample: str = "residual",
                 device: str = "cpu", batch_size: int = 8, name: str | None = None, config: dict | None = None):
        import torch

        if upsample not in ("residual", "image"):
            raise ValueError(f"upsample: expected residual | image, got {upsample!r}")
        self.network = network.to(device).eval()
        self.size = int(network.size) if (size is None and network.fixed_size) else size
        self.paste = paste
        self.upsample = upsample
        self.device = torch.device(device)
        self.batch_size = max(1, int(batch_size))
        self.name = name or network.model_name
        self.config = dict(config or {})
        self.min_size = network.min_size

    # -- numpy <-> torch ---------------------------------------------------------------------------
    def _to_model(self, composite: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        h, w = mask.shape
        if self.size is not None:
            comp = imageops.resize(composite, (self.size, self.size), "area" if min(h, w) > self.size else "bilinear")
            m = imageops.resize(mask, (self.size, self.size), "bilinear")
            return np.clip(comp, 0, 1), np.clip(m, 0, 1), (0, 0)
        mult = self.network.multiple
        ph, pw = (-h) % mult, (-w) % mult
        comp = np.pad(composite, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(h, w) > max(ph, pw) else "edge")
        m = np.pad(mask, ((0, ph), (0, pw)), mode="reflect" if min(h, w) > max(ph, pw) else "edge")
        return comp, m, (ph, pw)

    def _from_model(self, pred: np.ndarray, model_comp: np.ndarray, composite: np.ndarray, mask: np.ndarray,
                    pad: tuple[int, int]) -> np.ndarray:
        h, w = mask.shape
        if self.size is None:
            out = pred[:h, :w]
        elif self.upsample == "residual":
            delta = imageops.resize(pred - model_comp, (h, w), "bilinear")
            out = composite + delta
        else:
            out = imageops.resize(pred, (h, w), "bilinear")
        out = np.clip(out, 0.0, 1.0).astype(np.float32)
        if self.paste:
            out = imageops.blend(out, composite, mask)
        return out

    def forward_arrays(self, composites: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Network on a batch of model-resolution arrays ``(B, h, w, 3)``, ``(B, h, w)`` -> ``(B, h, w, 3)``."""
        import torch

        with torch.no_grad():
            comp_t = torch.from_numpy(np.ascontiguousarray(composites.transpose(0, 3, 1, 2))).to(self.device)
            mask_t = torch.from_numpy(np.ascontiguousarray(masks[:, None])).to(self.device)
            pred = self.network(comp_t, mask_t).clamp(0.0, 1.0)
        return pred.permute(0, 2, 3, 1).cpu().numpy().astype(np.float32)

    # -- Harmonizer contract -----------------------------------------------------------------------
    def __call__(self, composite: np.ndarray, mask: np.ndarray, **extra: Any) -> np.ndarray:
        return self.harmonize_batch([composite], [mask])[0]

    def harmonize_batch(self, composites: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Harmonize several images; same-shaped model inputs share forward passes of ``batch_size``."""
        if len(composites) != len(masks):
            raise ValueError(f"got {len(composites)} composites and {len(masks)} masks")
        for i, (c, m) in enumerate(zip(composites, masks)):
            _prepare(c, m, self.min_size, f"{self.name} input {i}")
        prepared = [self._to_model(c, m) for c, m in zip(composites, masks)]
        outputs: list[np.ndarray | None] = [None] * len(composites)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (comp, _, _) in enumerate(prepared):
            groups.setdefault(comp.shape[:2], []).append(i)
        for idx in groups.values():
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start:start + self.batch_size]
                preds = self.forward_arrays(np.stack([prepared[i][0] for i in chunk]),
                                            np.stack([prepared[i][1] for i in chunk]))
                for i, pred in zip(chunk, preds):
                    outputs[i] = self._from_model(pred, prepared[i][0], composites[i], masks[i], prepared[i][2])
        return outputs  # type: ignore[return-value]


def harmonize_background(harmonizer: TorchHarmonizer, composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Background harmonization (BargainNet supplement section 6): the background is adjusted to the
    foreground by running the network with the inverted mask."""
    imageops.check_pair(composite, mask)
    inverted = (1.0 - mask).astype(np.float32)
    return harmonizer(composite, inverted)
