"""The interface every harmonization network implements (so the adapter, the trainer and the
checkpoints work for any of them).

A network is an ``nn.Module`` subclass of :class:`HarmonyNet` that

- is built from JSON-serialisable keyword arguments (saved as ``config.json`` beside the weights);
  ``size`` is the side it runs at (the adapter resizes to it);
- maps ``forward(composite, mask) -> image`` on the torch contract: ``(B, 3, H, W)`` and ``(B, 1, H, W)``
  in [0, 1] in, ``(B, 3, H, W)`` in [0, 1] out;
- returns its training objective from ``training_losses(batch)`` as a dict of scalar tensors with the
  weighted sum under ``"total"`` (the trainer logs every entry);
- may implement ``on_train_step(step, total_steps)`` for schedules (DIH's two training stages).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn


class HarmonyNet(nn.Module):
    #: registry name of the model (``dih`` ...)
    model_name: str = ""
    #: input sides must be multiples of this (the adapter pads)
    multiple: int = 1
    #: True when the network only accepts exactly ``size x size`` (a fully connected bottleneck)
    fixed_size: bool = False
    #: extra batch keys the network can train with (``labels`` for DIH's scene parsing)
    optional_inputs: tuple[str, ...] = ()

    def __init__(self, **config: Any):
        super().__init__()
        self.config = dict(config)

    @property
    def size(self) -> int:
        return int(self.config["size"])

    #: smallest image side the adapter accepts (a smaller composite carries too little to resize up)
    min_size: int = 8

    def training_losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def on_train_step(self, step: int, total_steps: int) -> None:
        """Called before every training step (schedules); default: nothing."""

    @classmethod
    def data_overrides(cls, info: Mapping[str, Any]) -> dict[str, Any]:
        """Constructor overrides derived from the training data (e.g. DIH's number of label classes).

        ``info`` has ``num_classes`` (0 when the data carries no label maps)."""
        return {}


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1]."""
    return (x + 1.0) * 0.5


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return x * 2.0 - 1.0
