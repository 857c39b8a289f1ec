"""Learned harmonization networks (torch), registered as methods.

Importing this package does NOT import torch: the cards are registered eagerly, and each factory
imports torch, finds a checkpoint and builds the network only when called::

    from harmony.registry import METHODS
    harmonize = METHODS.create("dih", weights="checkpoints/")    # folder with dih/config.json
    out = harmonize(composite, mask)                              # numpy contract

Modules: ``blocks`` (shared layers), ``base`` (the network interface and its training hooks), ``adapter``
(TorchHarmonizer), ``checkpoint``, ``presets`` (named configurations), ``data`` (streaming datasets, the
step sampler, the pre-resized cache), ``trainer`` (the Trainer: devices, precision, DDP, exact resume),
``train`` (the ``train()`` entry point), and one module per paper: ``dih``, ``bargainnet``, ``rcl``,
``sprih``, ``charmnet``. To add a network: subclass ``base.HarmonyNet``, add it to
``presets.MODEL_CLASSES``, register presets with ``presets.register_preset`` and a method with
:func:`register_learned_method`.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from ..registry import METHODS, Card
from .presets import presets_for

_ADAPTER_OPTIONS = ("paste", "upsample", "batch_size", "size")


def make_factory(method: str):
    """The registry factory of a learned method (checkpoint lookup before any torch import).

    Parameters
    ----------
    method : str
        Registry name; also the checkpoint sub-folder looked for.

    Returns
    -------
    callable
        ``factory(weights=None, device="cpu", preset=None, paste=True, upsample="residual",
        batch_size=8, size=None) -> TorchHarmonizer``; it raises
        :class:`~harmony.errors.MissingWeightsError` without a checkpoint and
        :class:`~harmony.errors.InputError` for unknown options.
    """

    def factory(weights: Any = None, device: str = "cpu", preset: str | None = None, **options: Any):
        unknown = sorted(set(options) - set(_ADAPTER_OPTIONS))
        if unknown:
            raise InputError(f"{method}: unknown option(s) {', '.join(unknown)} (valid: weights, device, preset, "
                             f"{', '.join(_ADAPTER_OPTIONS)})")
        from .checkpoint import find_checkpoint, load_checkpoint

        # Find the checkpoint before importing torch: `bench --models all` without checkpoints stays light.
        folder = find_checkpoint(method, weights, presets=presets_for(method))
        from .adapter import TorchHarmonizer

        net, config = load_checkpoint(folder, model=method, preset=preset, device=device)
        harmonizer = TorchHarmonizer(net, size=options.get("size") or int(config["args"]["size"]),
                                     paste=options.get("paste", True), upsample=options.get("upsample", "residual"),
                                     device=device, batch_size=options.get("batch_size", 8), name=method,
                                     config=config)
        harmonizer.checkpoint = str(folder)
        return harmonizer

    factory.is_factory = True
    return factory


def register_learned_method(method: str, *, native_size: int, paper: str, summary: str, notes: str,
                            keeps_background: bool = True, low_res_only: bool = True, **card_fields: Any) -> None:
    """Register a learned method's card and lazy factory in ``harmony.registry.METHODS`` (no torch import).

    Parameters
    ----------
    method : str
        Registry name (the model name of its presets).
    native_size : int
        Side of the method's ``_paper`` preset. A checkpoint's own ``size`` takes precedence wherever the
        method runs (``harmony bench`` records the checkpoint's side); the card's value is the fallback
        shown before a checkpoint is loaded.
    paper : str
        Citation of the paper the method follows (authors, title, venue).
    summary, notes : str
        One line for ``harmony list``; what is implemented and what differs from the paper.
    keeps_background, low_res_only : bool
        Card flags (see :class:`harmony.registry.Card`).
    **card_fields
        Further :class:`~harmony.registry.Card` fields.
    """
    card = Card(name=method, kind="method", summary=summary, paper=paper, presets=presets_for(method),
                keeps_background=keeps_background, deterministic=True, learned=True, low_res_only=low_res_only,
                native_size=native_size, notes=notes, **card_fields)
    METHODS.register(method, card=card)(make_factory(method))


register_learned_method(
    "dih", native_size=512,
    paper="Tsai et al., Deep Image Harmonization, CVPR 2017",
    summary="DIH encoder-decoder with skip links (+ scene-parsing decoder when trained with label maps).",
    notes="Runs at the checkpoint's side (dih_paper 512, dih_tiny 64); the predicted change is upsampled "
          "and added to the composite, then pasted into the foreground. Needs a checkpoint from `harmony train dih`.")
register_learned_method(
    "bargainnet", native_size=256,
    paper="Cong et al., BargainNet: Background-Guided Domain Translation for Image Harmonization, ICME 2021",
    summary="Background-guided domain translation: attention U-Net + partial-conv domain code, triplet losses.",
    notes="Runs at the checkpoint's side (bargainnet_paper 256, bargainnet_tiny 64); prediction pasted into the "
          "foreground. Also: `harmony inharmony` (domain-code distance) and background harmonization "
          "(`harmony harmonize --background`).")
register_learned_method(
    "rcl", native_size=256,
    paper="Liang, Pun et al., Image Harmonization with Region-wise Contrastive Learning",
    summary="ResUNet + S2AM + external style fusion, trained with the region-wise contrastive loss.",
    notes="Runs at the checkpoint's side (rcl_paper 256, rcl_tiny 64); prediction pasted into the foreground.")


# SPRIH has its own factory: its parameters are predicted at the network's side and applied at full
# resolution (no TorchHarmonizer).
def _sprih_factory(weights: Any = None, device: str = "cpu", preset: str | None = None, **options: Any):
    from .checkpoint import find_checkpoint

    find_checkpoint("sprih", weights, presets=presets_for("sprih"))  # MissingWeightsError before torch loads
    from .sprih import make_sprih_factory

    return make_sprih_factory()(weights=weights, device=device, preset=preset, **options)


_sprih_factory.is_factory = True
METHODS.register("sprih", card=Card(
    name="sprih", kind="method", learned=True, keeps_background=True, deterministic=True, low_res_only=False,
    native_size=512, presets=presets_for("sprih"),
    paper="Wang et al., Semi-supervised Parametric Real-world Image Harmonization, CVPR 2023",
    summary="Parametric: RGB curves (32 points) + low-frequency shading map predicted at 512, applied at full resolution.",
    notes="Predicts at the checkpoint's side (sprih_paper 512, sprih_tiny 64) and applies the curves and the "
          "upsampled shading map to the full-resolution composite inside the mask. `harmony harmonize --method "
          "sprih --export-params DIR` writes the editable parameters; `harmony apply-params` re-applies them. "
          "Train with `harmony train sprih --data PAIRED [--unpaired REAL]`."))(_sprih_factory)
register_learned_method(
    "charmnet", native_size=256,
    paper="Cao, Cong, Niu et al., Deep Image Harmonization by Bridging the Reality Gap, BMVC 2022",
    summary="Two-domain iDIH (real / rendered first and last 4 layers, shared middle), domain critic, style losses.",
    notes="Runs the real-domain branch at the checkpoint's side (charmnet_paper 256, charmnet_tiny 64); prediction "
          "pasted into the foreground. Train with `harmony train charmnet --data REAL --rendered RENDERED`.")

__all__ = ["make_factory", "register_learned_method"]
