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

Training hooks (declared here with defaults; :class:`harmony.models.trainer.Trainer` calls them, never
``hasattr``):

- ``extra_streams``: extra data streams the network trains with, ``{name: required}`` (SPRIH:
  ``{"unpaired": False}``, CharmNet: ``{"rendered": True}``); the dataset layer
  (:mod:`harmony.models.data`) loads them and :meth:`HarmonyNet.streams_for_step` says which ones a
  step needs; the step's batch carries them under ``batch["streams"][name]``.
- :meth:`HarmonyNet.optimizer_groups` / :meth:`HarmonyNet.optimizer_options`: the optimizers (``main``
  plus e.g. a discriminator's), each saved and restored by ``--resume``.
- :meth:`HarmonyNet.train_phases` / :meth:`HarmonyNet.phase_losses`: one step is a sequence of phases;
  each phase returns losses whose ``"total"`` the trainer back-propagates (with the GradScaler when one
  is on) before stepping that phase's optimizer. Phases share ``context.carry`` (a GAN's fake images).
- :meth:`HarmonyNet.log_values`: what the training log records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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

    # -- training hooks (defaults: one optimizer, one phase, ``training_losses``) ----------------------
    #: extra data streams ``{name: required}`` (see the module docstring)
    extra_streams: Mapping[str, bool] = {}

    def streams_for_step(self, seed: int, step: int, batch_size: int) -> dict[str, int]:
        """``{stream: items}`` the step needs from the extra streams (default: ``batch_size`` of each
        attached stream; the trainer passes only attached streams to the sampler)."""
        return {name: batch_size for name in self.extra_streams}

    def optimizer_groups(self) -> dict[str, list]:
        """``{optimizer name: parameters}``; ``main`` uses the preset's optimizer and learning rate."""
        return {"main": [p for p in self.parameters()]}

    def optimizer_options(self, name: str) -> dict[str, Any]:
        """Adam options of a non-``main`` optimizer (``lr`` defaults to the main one's)."""
        return {}

    def train_phases(self) -> tuple[str, ...]:
        """Names of the phases of one step, in order; each phase steps the optimizer of that name."""
        return ("main",)

    def phase_losses(self, phase: str, batch: Mapping[str, Any], context: Any) -> dict[str, torch.Tensor]:
        """Losses of ``phase`` (``"total"`` is back-propagated). ``context`` has ``step``, ``seed``,
        ``rank``, ``rng`` (a numpy Generator of the step) and ``carry`` (shared between phases)."""
        return self.training_losses(batch)

    def log_values(self, losses: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """Scalars written to the training log (default: every 0-d entry not starting with ``_``)."""
        return {k: float(v.detach()) for k, v in losses.items() if not k.startswith("_") and v.dim() == 0}

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
