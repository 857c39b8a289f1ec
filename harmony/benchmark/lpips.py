"""LPIPS (Zhang et al. 2018), AlexNet backbone, linear layers v0.1, in plain torch.

SPRIH and AICT report LPIPS with AlexNet v0.1 on inputs scaled to [-1, 1]. The network is rebuilt here
(torchvision is not available) and its weights are loaded **only from local files**; nothing is ever
downloaded. Without weights the metric is skipped with a message, never faked.

Weights: ``HARMONY_LPIPS_WEIGHTS`` (or ``LPIPS.from_files``) names a folder holding

- ``alexnet.pth``: torchvision's AlexNet state dict (``alexnet-owt-7be5be79.pth``; only the
  ``features.*`` keys are used), and
- ``alex.pth``: the lpips package's v0.1 linear layers (``lin0.model.1.weight`` ... ``lin4...``),

or a single file holding both dictionaries (keys as above, the linear keys optionally prefixed ``lin.``).

Computation (lpips v0.1): scale to [-1, 1]; ``(x - shift) / scale`` with shift
``[-.030, -.088, -.188]`` and scale ``[.458, .448, .450]``; AlexNet relu1..relu5 features; each feature
unit-normalised over channels (``x / (sqrt(sum x^2) + 1e-10)``); squared difference; 1x1 linear layer
without bias; spatial mean; sum over the five layers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

ENV_VAR = "HARMONY_LPIPS_WEIGHTS"
CHANNELS = (64, 192, 384, 256, 256)
_FEATURE_INDICES = (0, 3, 6, 8, 10)   # conv layers of torchvision's alexnet.features
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


class LPIPSUnavailable(RuntimeError):
    """No local weights: the metric is skipped (the message says where to put them)."""


def _build():
    import torch
    from torch import nn

    class AlexLPIPS(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=False),
                nn.MaxPool2d(3, 2),
                nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=False),
                nn.MaxPool2d(3, 2),
                nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=False),
                nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=False),
                nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=False),
            )
            self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
            self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
            self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))

        def forward(self, x, y):
            # x, y: (B, 3, H, W) in [-1, 1]
            fx, fy = self._taps((x - self.shift) / self.scale), self._taps((y - self.shift) / self.scale)
            total = 0
            for lin, a, b in zip(self.lins, fx, fy):
                a = a / (torch.sqrt((a * a).sum(dim=1, keepdim=True)) + 1e-10)
                b = b / (torch.sqrt((b * b).sum(dim=1, keepdim=True)) + 1e-10)
                total = total + lin((a - b) ** 2).mean(dim=(2, 3), keepdim=True)
            return total.view(-1)

        def _taps(self, x):
            out = []
            for layer in self.features:
                x = layer(x)
                if isinstance(layer, nn.ReLU):
                    out.append(x)
            return out

    return AlexLPIPS()


def _split_state(state: Mapping[str, Any]) -> tuple[dict, dict]:
    backbone, lins = {}, {}
    for k, v in state.items():
        k2 = k[len("lin."):] if k.startswith("lin.") else k
        if k2.startswith("features."):
            backbone[k2] = v
        elif k2.startswith("lin") and k2.endswith(".weight"):
            lins[k2] = v
    return backbone, lins


class LPIPS:
    """The LPIPS perceptual distance (AlexNet variant, linear calibration v0.1) from local weights.

    ``LPIPS.from_files(backbone, linear)(pred, gt) -> float`` on float32 [0, 1] (H, W, 3) images; lower
    is closer. Nothing is downloaded: the weights are the torchvision AlexNet file and the LPIPS
    repository's ``alex.pth`` linear layers, given as files.

    Parameters
    ----------
    backbone_state : mapping
        AlexNet state dict (``features.<i>.weight`` / ``bias`` of the five conv layers).
    linear_state : mapping
        LPIPS linear layers (``lin<i>.model.1.weight``).
    source : str
        Where the weights came from, for error messages.

    Raises
    ------
    LPIPSUnavailable
        When a tensor is missing from either state dict.

    References
    ----------
    .. [1] Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric",
           CVPR 2018; the ``lpips`` package (``lpips.LPIPS(net="alex")``).
    """

    def __init__(self, backbone_state: Mapping[str, Any], linear_state: Mapping[str, Any], *,
                 source: str = ""):
        import torch

        self.source = source
        self.net = _build().eval()
        features = {}
        for i in _FEATURE_INDICES:
            for p in ("weight", "bias"):
                key = f"features.{i}.{p}"
                if key not in backbone_state:
                    raise LPIPSUnavailable(f"{source}: AlexNet weights lack {key!r}")
                features[f"{i}.{p}"] = backbone_state[key]
        self.net.features.load_state_dict(features)
        for i, lin in enumerate(self.net.lins):
            key = f"lin{i}.model.1.weight"
            if key not in linear_state:
                raise LPIPSUnavailable(f"{source}: LPIPS linear weights lack {key!r}")
            lin.weight.data.copy_(torch.as_tensor(linear_state[key]).reshape(lin.weight.shape))
        for p in self.net.parameters():
            p.requires_grad_(False)

    @classmethod
    def from_files(cls, backbone: str | os.PathLike, linear: str | os.PathLike | None = None) -> LPIPS:
        """Load from ``alexnet.pth`` + ``alex.pth`` (or one combined file when ``linear`` is None).

        Parameters
        ----------
        backbone : str or os.PathLike
            The AlexNet weights (torchvision's ``alexnet-owt-7be5be79.pth`` renamed ``alexnet.pth``), or one
            file holding both parts.
        linear : str, os.PathLike or None
            The LPIPS linear layers (``alex.pth`` of the LPIPS repository, v0.1).

        Returns
        -------
        LPIPS

        Raises
        ------
        LPIPSUnavailable
            When a file is missing or lacks a tensor.
        """
        import torch

        def load(p):
            p = Path(p)
            if not p.is_file():
                raise LPIPSUnavailable(f"{p}: LPIPS weight file not found")
            return torch.load(p, map_location="cpu", weights_only=True)

        state = load(backbone)
        b, lins = _split_state(state)
        if linear is not None:
            _, lins2 = _split_state(load(linear))
            lins.update(lins2)
        return cls(b, lins, source=str(backbone))

    @classmethod
    def from_env(cls, path: str | os.PathLike | None = None) -> LPIPS:
        """Load the weights from ``path`` or ``$HARMONY_LPIPS_WEIGHTS``.

        Parameters
        ----------
        path : str, os.PathLike or None
            A folder holding ``alexnet.pth`` and ``alex.pth``, or one combined file; ``None``: the
            environment variable.

        Returns
        -------
        LPIPS

        Raises
        ------
        LPIPSUnavailable
            When neither is given, or the files are missing or incomplete (the bench then skips LPIPS
            and says why).
        """
        path = path or os.environ.get(ENV_VAR)
        if not path:
            raise LPIPSUnavailable(f"LPIPS skipped: no local AlexNet/LPIPS weights (set {ENV_VAR} to a folder "
                                   "holding alexnet.pth and alex.pth); nothing is downloaded")
        p = Path(path)
        if p.is_dir():
            return cls.from_files(p / "alexnet.pth", p / "alex.pth")
        return cls.from_files(p)

    def __call__(self, pred: np.ndarray, gt: np.ndarray) -> float:
        """The LPIPS distance of two images (inputs scaled to [-1, 1] as the reference implementation does).

        Parameters
        ----------
        pred, gt : ndarray, shape (H, W, 3), float in [0, 1]
            Prediction and ground truth.

        Returns
        -------
        float
            The distance, >= 0 (0 for identical images).

        Raises
        ------
        ValueError
            For an array that is not (H, W, 3).
        """
        import torch

        for name, a in (("pred", pred), ("gt", gt)):
            if a.ndim != 3 or a.shape[2] != 3:
                raise ValueError(f"lpips: {name} must be (H, W, 3) in [0, 1], got {a.shape}")
        x = torch.from_numpy(np.ascontiguousarray(pred, dtype=np.float32)).permute(2, 0, 1)[None] * 2 - 1
        y = torch.from_numpy(np.ascontiguousarray(gt, dtype=np.float32)).permute(2, 0, 1)[None] * 2 - 1
        with torch.no_grad():
            return float(self.net(x, y)[0])
