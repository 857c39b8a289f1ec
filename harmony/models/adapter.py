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


def _check_input(composite: np.ndarray, mask: np.ndarray, min_size: int, name: str) -> None:
    """Refuse an input the network cannot take: the Harmonizer contract, a side below ``min_size``, or a
    mask without foreground (InputError naming ``name``)."""
    imageops.check_pair(composite, mask)
    height, width = mask.shape
    if min(height, width) < min_size:
        raise InputError(f"{name}: image is {width}x{height}; the network needs at least {min_size}x{min_size}")
    if not (mask > 0.5).any():
        raise InputError(f"{name}: mask has no foreground pixel (nothing to harmonize)")


class TorchHarmonizer:
    """A :class:`~harmony.models.base.HarmonyNet` as a numpy Harmonizer.

    Parameters
    ----------
    network : harmony.models.base.HarmonyNet
        The torch module (moved to ``device`` and put in eval mode here).
    size : int or None
        Side the network runs at; ``None`` runs at the input resolution, padded by reflection to a
        multiple of ``network.multiple``. Networks with ``fixed_size`` always run at their own ``size``.
    paste : bool
        Keep the composite's background exactly (paste the prediction into the foreground).
    upsample : {"residual", "image"}
        How a low-resolution prediction returns to the input resolution (module docstring).
    device : str
        Torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
    batch_size : int
        Images per forward pass in :meth:`harmonize_batch` (at least 1).
    name : str or None
        Used in error messages (default: the network's ``model_name``).
    config : dict or None
        The checkpoint's ``config.json`` (its ``sha256`` and preset travel with the harmonizer).

    Raises
    ------
    ValueError
        For an ``upsample`` other than ``residual`` or ``image``.

    References
    ----------
    .. [1] Tsai et al., "Deep Image Harmonization", CVPR 2017: networks run at a fixed side (512), their
           output resized back.
    .. [2] Wang et al., "Semi-supervised Parametric Real-world Image Harmonization", CVPR 2023, Table 1:
           low-resolution methods upsampled bilinearly (``upsample="image"``).

    Examples
    --------
    >>> from harmony.registry import METHODS
    >>> harmonize = METHODS.create("dih", weights="checkpoints/")   # doctest: +SKIP
    >>> out = harmonize(composite, mask)                              # doctest: +SKIP
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

    def _to_model(self, composite: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """Composite and mask at the network's side (or padded to its multiple), and the padding added."""
        height, width = mask.shape
        if self.size is not None:
            interpolation = "area" if min(height, width) > self.size else "bilinear"
            model_composite = imageops.resize(composite, (self.size, self.size), interpolation)
            model_mask = imageops.resize(mask, (self.size, self.size), "bilinear")
            return np.clip(model_composite, 0, 1), np.clip(model_mask, 0, 1), (0, 0)
        multiple = self.network.multiple
        pad_bottom, pad_right = (-height) % multiple, (-width) % multiple
        mode = "reflect" if min(height, width) > max(pad_bottom, pad_right) else "edge"
        model_composite = np.pad(composite, ((0, pad_bottom), (0, pad_right), (0, 0)), mode=mode)
        model_mask = np.pad(mask, ((0, pad_bottom), (0, pad_right)), mode=mode)
        return model_composite, model_mask, (pad_bottom, pad_right)

    def _from_model(self, prediction: np.ndarray, model_composite: np.ndarray, composite: np.ndarray,
                    mask: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
        """A network prediction back at the input resolution (cropped, or upsampled as ``upsample`` says),
        clipped to [0, 1] and pasted into the foreground when ``paste``."""
        height, width = mask.shape
        if self.size is None:
            out = prediction[:height, :width]
        elif self.upsample == "residual":
            change = imageops.resize(prediction - model_composite, (height, width), "bilinear")
            out = composite + change
        else:
            out = imageops.resize(prediction, (height, width), "bilinear")
        out = np.clip(out, 0.0, 1.0).astype(np.float32)
        if self.paste:
            out = imageops.blend(out, composite, mask)
        return out

    def forward_arrays(self, composites: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Run the network once on a batch of model-resolution arrays, without gradients.

        Parameters
        ----------
        composites : ndarray, shape (B, h, w, 3), float32 in [0, 1]
            Composites at the network's resolution.
        masks : ndarray, shape (B, h, w), float32 in [0, 1]
            Their foreground masks.

        Returns
        -------
        ndarray, shape (B, h, w, 3), float32 in [0, 1]
            The predictions, back on the CPU as numpy.
        """
        import torch

        with torch.no_grad():
            composite_tensor = torch.from_numpy(np.ascontiguousarray(composites.transpose(0, 3, 1, 2))).to(self.device)
            mask_tensor = torch.from_numpy(np.ascontiguousarray(masks[:, None])).to(self.device)
            prediction = self.network(composite_tensor, mask_tensor).clamp(0.0, 1.0)
        return prediction.permute(0, 2, 3, 1).cpu().numpy().astype(np.float32)

    def __call__(self, composite: np.ndarray, mask: np.ndarray, **extra: Any) -> np.ndarray:
        """Harmonize one image (the Harmonizer contract); ``extra`` inputs are ignored."""
        return self.harmonize_batch([composite], [mask])[0]

    def harmonize_batch(self, composites: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                        batch_size: int | None = None) -> list[np.ndarray]:
        """Harmonize several images; inputs of the same network shape share forward passes.

        Parameters
        ----------
        composites : sequence of ndarray, shape (H_i, W_i, 3), float32 in [0, 1]
            The composites (sizes may differ).
        masks : sequence of ndarray, shape (H_i, W_i), float32 in [0, 1]
            Their foreground masks.
        batch_size : int or None
            Images per forward pass; ``None``: the harmonizer's ``batch_size``. Used by ``harmony bench
            --batch-size`` without changing the harmonizer (nor its cache fingerprint).

        Returns
        -------
        list of ndarray, shape (H_i, W_i, 3), float32 in [0, 1]
            One output per input, in order, each at its input's resolution.

        Raises
        ------
        ValueError
            When the two sequences differ in length.
        harmony.errors.InputError
            For an input the network cannot take (contract, minimum side, empty mask), naming its index.
        """
        if len(composites) != len(masks):
            raise ValueError(f"got {len(composites)} composites and {len(masks)} masks")
        per_pass = self.batch_size if batch_size is None else max(1, int(batch_size))
        for index, (composite, mask) in enumerate(zip(composites, masks)):
            _check_input(composite, mask, self.min_size, f"{self.name} input {index}")
        model_inputs = [self._to_model(composite, mask) for composite, mask in zip(composites, masks)]
        outputs: list[np.ndarray | None] = [None] * len(composites)
        by_shape: dict[tuple[int, int], list[int]] = {}
        for index, (model_composite, _mask, _pad) in enumerate(model_inputs):
            by_shape.setdefault(model_composite.shape[:2], []).append(index)
        for indices in by_shape.values():
            for start in range(0, len(indices), per_pass):
                chunk = indices[start:start + per_pass]
                predictions = self.forward_arrays(np.stack([model_inputs[i][0] for i in chunk]),
                                                  np.stack([model_inputs[i][1] for i in chunk]))
                for i, prediction in zip(chunk, predictions):
                    model_composite, _mask, pad = model_inputs[i]
                    outputs[i] = self._from_model(prediction, model_composite, composites[i], masks[i], pad)
        return outputs  # type: ignore[return-value]


def harmonize_background(harmonizer: TorchHarmonizer, composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Background harmonization: adjust the background to the foreground.

    The network runs with the inverted mask, so the background is the region it changes.

    Parameters
    ----------
    harmonizer : TorchHarmonizer
        A trained network (BargainNet's is the one the paper uses this way).
    composite : ndarray, shape (H, W, 3), float32 in [0, 1]
        The composite.
    mask : ndarray, shape (H, W), float32 in [0, 1]
        Its foreground mask (1 = pasted object).

    Returns
    -------
    ndarray, shape (H, W, 3), float32 in [0, 1]
        The composite with its background harmonized (the foreground kept when the harmonizer pastes).

    References
    ----------
    .. [1] Cong et al., "BargainNet: Background-Guided Domain Translation for Image Harmonization",
           ICME 2021, supplementary section 6 (background harmonization).
    """
    imageops.check_pair(composite, mask)
    inverted = (1.0 - mask).astype(np.float32)
    return harmonizer(composite, inverted)
