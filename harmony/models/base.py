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
    """Base class of the harmonization networks: the interface the adapter, trainer and checkpoints use.

    Parameters
    ----------
    **config
        JSON-serialisable constructor arguments, kept in ``self.config`` and saved as ``config.json``
        beside the weights; ``size`` is the side the network runs at.

    Notes
    -----
    Subclasses implement ``forward(composite, mask)`` on ``(N, 3, H, W)`` / ``(N, 1, H, W)`` float tensors
    in [0, 1], returning ``(N, 3, H, W)`` in [0, 1], and :meth:`training_losses`; the other hooks have
    defaults (see the module docstring).
    """
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
        """Side (pixels) of the square images the network runs at (``config["size"]``)."""
        return int(self.config["size"])

    #: smallest image side the adapter accepts (a smaller composite carries too little to resize up)
    min_size: int = 8

    def training_losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The training objective of one batch.

        Parameters
        ----------
        batch : mapping of str to torch.Tensor
            ``composite`` and ``real`` (N, 3, H, W), ``mask`` (N, 1, H, W), float in [0, 1], plus the
            network's ``optional_inputs`` (e.g. ``labels`` (N, H, W) int64) and ``streams``.

        Returns
        -------
        dict of str to torch.Tensor
            Scalar losses; ``total`` is back-propagated, every entry is logged.
        """
        raise NotImplementedError

    def on_train_step(self, step: int, total_steps: int) -> None:
        """Called before every training step (schedules); default: nothing.

        Parameters
        ----------
        step : int
            0-based index of the step about to run.
        total_steps : int
            Steps of the whole run.
        """

    # -- training hooks (defaults: one optimizer, one phase, ``training_losses``) ----------------------
    #: extra data streams ``{name: required}`` (see the module docstring)
    extra_streams: Mapping[str, bool] = {}

    def streams_for_step(self, seed: int, step: int, batch_size: int) -> dict[str, int]:
        """Items the step needs from each extra stream.

        Parameters
        ----------
        seed : int
            The run's ``--seed``.
        step : int
            0-based step.
        batch_size : int
            Items of the main stream per step and rank.

        Returns
        -------
        dict of str to int
            ``{stream: items}``; default ``batch_size`` of every declared stream (the trainer keeps only the
            streams attached to this run).
        """
        return {name: batch_size for name in self.extra_streams}

    def optimizer_groups(self) -> dict[str, list]:
        """The parameters of each optimizer.

        Returns
        -------
        dict of str to list of torch.nn.Parameter
            ``main`` uses the preset's optimizer and learning rate; other names use Adam with
            :meth:`optimizer_options`. Default: one ``main`` group with every parameter.
        """
        return {"main": [p for p in self.parameters()]}

    def optimizer_options(self, name: str) -> dict[str, Any]:
        """Adam options of a non-``main`` optimizer.

        Parameters
        ----------
        name : str
            A key of :meth:`optimizer_groups`.

        Returns
        -------
        dict
            Keyword arguments of ``torch.optim.Adam`` (``lr`` defaults to the main learning rate).
        """
        return {}

    def train_phases(self) -> tuple[str, ...]:
        """Names of the phases of one step, in order; each phase steps the optimizer of the same name.

        Returns
        -------
        tuple of str
            Default ``("main",)``.
        """
        return ("main",)

    def phase_losses(self, phase: str, batch: Mapping[str, Any], context: Any) -> dict[str, torch.Tensor]:
        """Losses of one phase of a step.

        Parameters
        ----------
        phase : str
            One of :meth:`train_phases`.
        batch : mapping
            As for :meth:`training_losses`.
        context : harmony.models.trainer.StepContext
            ``step``, ``seed``, ``rank``, ``rng`` (a numpy Generator of the step) and ``carry`` (a dict shared
            between the phases of the step).

        Returns
        -------
        dict of str to torch.Tensor
            ``total`` is back-propagated; default :meth:`training_losses`.
        """
        return self.training_losses(batch)

    def log_values(self, losses: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """Scalars written to the training log.

        Parameters
        ----------
        losses : mapping of str to torch.Tensor
            What a phase returned.

        Returns
        -------
        dict of str to float
            Every 0-d entry whose name does not start with ``_``.
        """
        return {k: float(v.detach()) for k, v in losses.items() if not k.startswith("_") and v.dim() == 0}

    @classmethod
    def data_overrides(cls, info: Mapping[str, Any]) -> dict[str, Any]:
        """Constructor overrides derived from the training data.

        Parameters
        ----------
        info : mapping
            ``num_classes``: label classes found in the training data (0 when it carries no label maps).

        Returns
        -------
        dict
            Constructor keyword arguments (default none; DIH sets its parsing classes).
        """
        return {}


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Map [-1, 1] to [0, 1]: ``(x + 1) / 2``.

    Parameters
    ----------
    x : torch.Tensor
        Any shape, values in [-1, 1] (a tanh output).

    Returns
    -------
    torch.Tensor
        Same shape, values in [0, 1].
    """
    return (x + 1.0) * 0.5


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """Map [0, 1] to [-1, 1]: ``2 x - 1``.

    Parameters
    ----------
    x : torch.Tensor
        Any shape, values in [0, 1].

    Returns
    -------
    torch.Tensor
        Same shape, values in [-1, 1].
    """
    return x * 2.0 - 1.0
