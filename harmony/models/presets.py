"""Named model presets (timm-style): ``<model>_tiny`` trains on 2 CPU cores in minutes, ``<model>_paper``
has the paper's widths, depth and input size.

A :class:`Preset` is pure data (this module does not import torch): the model name, the constructor
arguments, the input size the network runs at, and the training defaults. ``create_model(preset)``
imports the network lazily. Other engineers add their presets with :func:`register_preset`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError

# model name -> "module:Class" (imported on first use so the CLI starts without torch)
MODEL_CLASSES: dict[str, str] = {
    "dih": "harmony.models.dih:DIH",
    "bargainnet": "harmony.models.bargainnet:BargainNet",
    "rcl": "harmony.models.rcl:RCLNet",
}


@dataclass(frozen=True)
class Preset:
    """One named configuration of a network.

    Attributes
    ----------
    name: ``<model>_<variant>``.
    model: key of ``MODEL_CLASSES``.
    args: constructor keyword arguments (``size`` is always among them: the side the network runs at).
    batch_size, lr, steps, val_every, optimizer, betas, weight_decay: training defaults
        (``harmony train`` options override them).
    augment: per-sample augmentation (horizontal flip, random resized crop).
    lr_milestones, lr_gamma: step decay of the learning rate.
    paper: the paper's training schedule and the estimated cost (``_paper`` presets).
    summary: one line for ``harmony list`` and the docs.
    """

    name: str
    model: str
    args: Mapping[str, Any]
    batch_size: int = 4
    lr: float = 1e-3
    steps: int = 200
    val_every: int = 50
    optimizer: str = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    summary: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: per-sample augmentation (:mod:`harmony.models.data`): ``hflip`` probability, ``crop_scale``
    #: (area fraction of a random resized crop; None = no crop), ``crop_ratio``
    augment: Mapping[str, Any] = field(default_factory=lambda: {"hflip": 0.5, "crop_scale": None})
    #: learning rate multiplied by ``lr_gamma`` at each of these steps (torch MultiStepLR)
    lr_milestones: tuple[int, ...] = ()
    lr_gamma: float = 0.1
    #: the paper's schedule and our cost notes (``_paper`` presets): epochs, batch, lr, crop, memory, gpu_hours
    paper: Mapping[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Side (pixels) the preset's network runs at (``args["size"]``)."""
        return int(self.args["size"])


PRESETS: dict[str, Preset] = {}


def register_preset(preset: Preset, *, replace: bool = False) -> Preset:
    """Add a preset to ``PRESETS``.

    Parameters
    ----------
    preset : Preset
        Its ``args`` must include ``size``.
    replace : bool, default False
        Allow replacing a preset of the same name.

    Returns
    -------
    Preset
        ``preset`` itself.

    Raises
    ------
    ValueError
        A duplicate name (without ``replace``) or ``args`` without ``size``.
    """
    if preset.name in PRESETS and not replace:
        raise ValueError(f"preset {preset.name!r} is already registered")
    if "size" not in preset.args:
        raise ValueError(f"preset {preset.name!r}: args must include 'size'")
    PRESETS[preset.name] = preset
    return preset


def get_preset(name: str) -> Preset:
    """A registered preset by name.

    Parameters
    ----------
    name : str
        E.g. ``dih_tiny``.

    Returns
    -------
    Preset

    Raises
    ------
    harmony.errors.InputError
        Unknown name (the message lists the valid ones).
    """
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; valid presets: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


def presets_for(model: str) -> tuple[str, ...]:
    """Names of a model's presets, in registration order.

    Parameters
    ----------
    model : str
        Key of ``MODEL_CLASSES``.

    Returns
    -------
    tuple of str
        Empty for an unknown model.
    """
    return tuple(n for n, p in PRESETS.items() if p.model == model)


def default_preset(model: str) -> str:
    """The preset ``harmony train`` uses without ``--preset``: the model's ``_tiny`` one, else its first.

    Parameters
    ----------
    model : str

    Returns
    -------
    str

    Raises
    ------
    harmony.errors.InputError
        Unknown model.
    """
    names = presets_for(model)
    if not names:
        raise InputError(f"unknown model {model!r}; valid models: {', '.join(sorted(MODEL_CLASSES))}")
    tiny = [n for n in names if n.endswith("_tiny")]
    return tiny[0] if tiny else names[0]


def model_class(model: str):
    """The network class of a model (imports torch and the model's module).

    Parameters
    ----------
    model : str
        Key of ``MODEL_CLASSES`` (``dih``, ``bargainnet``, ``rcl``, ``sprih``, ``charmnet``).

    Returns
    -------
    type
        A :class:`~harmony.models.base.HarmonyNet` subclass.

    Raises
    ------
    harmony.errors.InputError
        Unknown model.
    """
    if model not in MODEL_CLASSES:
        raise InputError(f"unknown model {model!r}; valid models: {', '.join(sorted(MODEL_CLASSES))}")
    module_name, _, attr = MODEL_CLASSES[model].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def create_model(preset: str | Preset, **overrides: Any):
    """Build a preset's network with random initialisation.

    Parameters
    ----------
    preset : str or Preset
    **overrides
        Constructor arguments replacing the preset's.

    Returns
    -------
    harmony.models.base.HarmonyNet
    """
    p = get_preset(preset) if isinstance(preset, str) else preset
    args = {**dict(p.args), **overrides}
    return model_class(p.model)(**args)


# --- the presets of this package ------------------------------------------------------------------

# DIH (Tsai et al. 2017, section 3.2): 512x512 input, stride-2 convolutions without pooling down to
# 4x4, a fully connected bottleneck, mirrored deconvolutions with a skip link per level, BN + ELU.
register_preset(Preset(
    "dih_paper", "dih",
    {"size": 512, "widths": (64, 128, 256, 512, 512, 512, 512), "fc_dim": 1024, "output": "direct"},
    batch_size=8, lr=1e-4, steps=100_000, val_every=2000,
    paper={"schedule": "Caffe SGD, fixed lr 1e-8 (summed loss); epochs, batch and crop not stated; 512x512 input",
           "steps": None},
    summary="DIH at the paper's 512x512 input (7 stride-2 levels to 4x4, FC bottleneck 1024)."))
register_preset(Preset(
    "dih_tiny", "dih",
    {"size": 64, "widths": (16, 32, 64, 64), "fc_dim": 128, "output": "residual"},
    batch_size=8, lr=2e-3, steps=300, val_every=100,
    summary="DIH at 64x64 with 4 levels; trains on 2 CPU cores in about a minute."))

# BargainNet (Cong et al. 2021): DoveNet's attention-enhanced U-Net (8 levels at 256x256, ngf 64)
# fed with composite, mask and the 16-d background domain code; extractor of 5 partial convolutions.
register_preset(Preset(
    "bargainnet_paper", "bargainnet",
    {"size": 256, "ngf": 64, "levels": 8, "code_dim": 16, "extractor_widths": (64, 128, 256, 256, 256),
     "output": "direct"},
    batch_size=16, lr=2e-4, steps=100_000, val_every=2000, betas=(0.5, 0.999),
    paper={"schedule": "images resized to 256x256 for training and test; epochs, batch and lr not stated in the "
                       "paper's text (preset: batch 16, Adam lr 2e-4, beta1 0.5)", "steps": None},
    summary="BargainNet at 256x256: U-Net ngf 64, 8 levels, code length 16."))
register_preset(Preset(
    "bargainnet_tiny", "bargainnet",
    {"size": 64, "ngf": 16, "levels": 5, "code_dim": 16, "extractor_widths": (16, 32, 32, 32, 32),
     "output": "residual"},
    batch_size=8, lr=2e-3, steps=300, val_every=100, betas=(0.5, 0.999),
    summary="BargainNet at 64x64: U-Net ngf 16, 5 levels, code length 16."))

# RCL (Liang et al., section III): residual U-Net with S2AM attention and external style fusion,
# 256x256, AdamW lr 1e-3, batch 8, K = 256 patches.
register_preset(Preset(
    "rcl_paper", "rcl",
    {"size": 256, "widths": (64, 128, 256, 512), "bottleneck_blocks": 2, "patches": 256, "tau": 0.07,
     "lambdas": (0.4, 0.5, 0.1)},
    batch_size=8, lr=1e-3, steps=100_000, val_every=2000, optimizer="adamw", weight_decay=0.01,
    augment={"hflip": 0.5, "crop_scale": (0.5, 1.0), "crop_ratio": (3 / 4, 4 / 3)},
    paper={"schedule": "256x256, random crop + flip, batch 8, AdamW lr 1e-3 (default settings); epochs not stated "
                       "(an ablation trains 60: 60 x 65,742 / 8 = 493,065 steps); crop range not stated "
                       "(preset: iharm's RandomResizedCrop scale 0.5-1)", "steps": 493_065},
    summary="RCL at 256x256: ResUNet widths 64-512, S2AM, style fusion, K=256, tau=0.07."))
register_preset(Preset(
    "rcl_tiny", "rcl",
    {"size": 64, "widths": (12, 24, 48), "bottleneck_blocks": 1, "patches": 64, "tau": 0.07,
     "lambdas": (0.4, 0.5, 0.1)},
    batch_size=4, lr=2e-3, steps=300, val_every=100, optimizer="adamw", weight_decay=0.01,
    summary="RCL at 64x64: ResUNet widths 12-48, K=64 patches."))

# --- SPRIH and CharmNet ----------------------------------------------------------------------------
MODEL_CLASSES["sprih"] = "harmony.models.sprih:SPRIH"
MODEL_CLASSES["charmnet"] = "harmony.models.charmnet:CharmNet"

# SPRIH (Wang et al. 2023, sections 3.1 and 4): 512x512 predictor; curves from a ResNet-50-layout
# backbone (about 23.5M parameters); shading U-Net down to 8x8, out at 64x64; Adam lr 4e-5, batch 8.
_SPRIH_PAPER = {"size": 512, "stem": 64, "widths": (64, 128, 256, 512), "blocks": (3, 4, 6, 3),
                "block": "bottleneck", "unet_widths": (64, 128, 256, 512, 1024, 1024), "disc_nf": 64}
_SPRIH_TINY = {"size": 64, "stem": 16, "widths": (16, 32, 48), "blocks": (1, 1, 1), "block": "basic",
               "unet_widths": (16, 24, 32, 48), "disc_nf": 8, "norm": "group"}
register_preset(Preset(
    "sprih_paper", "sprih", {**_SPRIH_PAPER, "shading": True},
    batch_size=8, lr=4e-5, steps=461_730, val_every=2000, betas=(0.9, 0.999),
    lr_milestones=(115_432, 230_865, 346_297), lr_gamma=0.2,
    paper={"schedule": "Adam, 80 epochs over 46,173 retouched pairs at batch 8 (= 461,730 steps), lr 4e-5 x0.2 "
                       "every 20 epochs, 512x512, one A100; crop not stated", "steps": 461_730},
    summary="SPRIH at 512x512: ResNet-50 curves (32 points) + shading U-Net (64x64 map), U-Net discriminator."))
register_preset(Preset(
    "sprih_paper_curves", "sprih", {**_SPRIH_PAPER, "shading": False},
    batch_size=8, lr=4e-5, steps=461_730, val_every=2000, lr_milestones=(115_432, 230_865, 346_297), lr_gamma=0.2,
    paper={"schedule": "as sprih_paper (Table 4 ablation)", "steps": 461_730},
    summary="SPRIH curves only (Table 4 ablation rows 1 and 3) at 512x512."))
register_preset(Preset(
    "sprih_tiny", "sprih", {**_SPRIH_TINY, "shading": True},
    batch_size=4, lr=2e-3, steps=150, val_every=50,
    summary="SPRIH at 64x64: ResNet-basic curves + shading U-Net (8x8 map); about a minute on 2 CPU cores."))
register_preset(Preset(
    "sprih_tiny_curves", "sprih", {**_SPRIH_TINY, "shading": False},
    batch_size=4, lr=2e-3, steps=150, val_every=50,
    summary="SPRIH curves only at 64x64 (Table 4 ablation)."))

# CharmNet (Cao et al. 2022): iDIH at 256x256 (depth 7, ch 64), first/last 4 layers per domain.
register_preset(Preset(
    "charmnet_paper", "charmnet",
    {"size": 256, "ch": 64, "depth": 7, "specific": 4, "max_channels": 512, "cls_width": 128, "disc_width": 128},
    batch_size=16, lr=1e-3, steps=100_000, val_every=2000, betas=(0.9, 0.999),
    paper={"schedule": "256x256; epochs, batch, lr and crop in the supplement, which is not available "
                       "(preset: batch 16, Adam lr 1e-3)", "steps": None},
    summary="CharmNet at 256x256: two-domain iDIH (depth 7, ch 64), domain critic, two style classifiers."))
register_preset(Preset(
    "charmnet_tiny", "charmnet",
    {"size": 64, "ch": 12, "depth": 5, "specific": 4, "max_channels": 96, "cls_width": 32, "disc_width": 32,
     "norm": "group"},
    batch_size=4, lr=2e-3, steps=150, val_every=50,
    summary="CharmNet at 64x64: two-domain iDIH (depth 5, ch 12); about a minute on 2 CPU cores."))
