"""Checkpoints: a folder holding ``config.json`` and ``weights.pt`` (diffusers-style, explicit).

``config.json``::

    {"format": "harmony-checkpoint/1", "model": "dih", "preset": "dih_tiny",
     "args": {...constructor arguments...}, "weights": "weights.pt", "sha256": "<hex of weights.pt>",
     "step": 300, "data": "/abs/path/of/training/data", "git": "<revision or null>",
     "train": {...training options...}, "harmony_version": "..."}

``training_state.pt`` (optimizer state and step) sits beside them so ``harmony train --resume``
continues. Loading checks the sha256 of the weights (a mismatch is a clear error, never a silent load)
and, when the caller says which model/preset it expects, that the checkpoint is for it.

:func:`find_checkpoint` implements the lookup every learned method's factory uses: ``weights`` may be a
checkpoint folder itself or a folder holding ``<preset>/`` or ``<method>/`` checkpoints; the default is
``$HARMONY_CHECKPOINTS`` then ``./checkpoints``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import __version__
from .. import io as hio
from ..errors import InputError, MissingWeightsError
from ..io import sha256_file  # also public here (checkpoint.sha256_file)
from ..serialize import to_jsonable

FORMAT = "harmony-checkpoint/1"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.pt"
STATE_NAME = "training_state.pt"


def git_revision(start: str | os.PathLike | None = None) -> str | None:
    """The checkout's commit (with ``-dirty`` when tracked files are modified), recorded in checkpoints.

    Parameters
    ----------
    start : str or os.PathLike, optional
        Folder to ask git in (default: this package's folder).

    Returns
    -------
    str or None
        A 40-hex commit, possibly suffixed ``-dirty``; None outside a git checkout or without git.
    """
    cwd = Path(start) if start else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_state_dict(model):
    """``model.state_dict()`` with every tensor on the CPU, so a GPU-trained checkpoint loads anywhere.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    collections.OrderedDict
        The state dict itself (same bytes once saved) when it is already on the CPU; else a copy with
        CPU tensors and the same ``_metadata``.
    """
    from collections import OrderedDict

    state = model.state_dict()
    if all(v.device.type == "cpu" for v in state.values()):
        return state
    out = OrderedDict((k, v.detach().cpu()) for k, v in state.items())
    meta = getattr(state, "_metadata", None)
    if meta is not None:
        out._metadata = meta
    return out


def save_checkpoint(folder: str | os.PathLike, model, *, preset: str, step: int, data: str | None = None,
                    train: Mapping[str, Any] | None = None, optimizer=None, extra: Mapping[str, Any] | None = None,
                    git: str | None = None) -> Path:
    """Write a network into a checkpoint folder atomically.

    The weights are written first, then ``config.json`` naming their sha256, so a crash never leaves a
    config pointing at other weights.

    Parameters
    ----------
    folder : str or os.PathLike
        Created when missing.
    model : harmony.models.base.HarmonyNet
        Its ``model_name`` and ``config`` (constructor arguments) go to ``config.json``.
    preset : str
        Preset name recorded in the config (checked by :func:`load_checkpoint` when asked).
    step : int
        Training steps done.
    data : str, optional
        Training data folder (recorded as an absolute path).
    train : mapping, optional
        Training options (seed, batch size, learning rate, ...).
    optimizer : torch.optim.Optimizer, optional
        Written with the step to ``training_state.pt``.
    extra : mapping, optional
        More top-level config fields.
    git : str, optional
        Revision to record (default :func:`git_revision`).

    Returns
    -------
    pathlib.Path
        ``folder``.
    """
    import io

    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(cpu_state_dict(model), buf)
    data_bytes = buf.getvalue()
    hio.atomic_write_bytes(folder / WEIGHTS_NAME, data_bytes)
    if optimizer is not None:
        buf = io.BytesIO()
        torch.save({"optimizer": optimizer.state_dict(), "step": int(step)}, buf)
        hio.atomic_write_bytes(folder / STATE_NAME, buf.getvalue())
    config = {
        "format": FORMAT,
        "model": model.model_name,
        "preset": preset,
        "args": to_jsonable(model.config),
        "weights": WEIGHTS_NAME,
        "sha256": hashlib.sha256(data_bytes).hexdigest(),
        "step": int(step),
        "data": str(Path(data).resolve()) if data else None,
        "git": git if git is not None else git_revision(),
        "train": to_jsonable(dict(train or {})),
        "harmony_version": __version__,
    }
    if extra:
        config.update(to_jsonable(dict(extra)))
    hio.atomic_write_text(folder / CONFIG_NAME, json.dumps(config, indent=2, sort_keys=True) + "\n")
    return folder


def read_config(folder: str | os.PathLike) -> dict:
    """The ``config.json`` of a checkpoint folder, after checking its required fields.

    Parameters
    ----------
    folder : str or os.PathLike

    Returns
    -------
    dict
        At least ``model``, ``preset``, ``args``, ``weights`` and ``sha256``.

    Raises
    ------
    harmony.errors.InputError
        No ``config.json``, unreadable JSON, or a required field missing (one line naming the file).
    """
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise InputError(f"{folder}: not a checkpoint folder (no {CONFIG_NAME})")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: unreadable checkpoint config ({exc.__class__.__name__})") from None
    for key in ("model", "preset", "args", "weights", "sha256"):
        if key not in config:
            raise InputError(f"{path}: checkpoint config lacks {key!r}")
    return config


def check_config(config: Mapping[str, Any], folder: str | os.PathLike, *, model: str | None = None,
                 preset: str | None = None) -> None:
    """Refuse a checkpoint made for another model or preset, naming both.

    Parameters
    ----------
    config : mapping
        From :func:`read_config`.
    folder : str or os.PathLike
        Named in the message.
    model, preset : str, optional
        What the caller expects (None: not checked).

    Raises
    ------
    harmony.errors.InputError
    """
    if model is not None and config["model"] != model:
        raise InputError(f"{folder}: checkpoint is for model {config['model']!r} (preset {config['preset']!r}), "
                         f"not {model!r}")
    if preset is not None and config["preset"] != preset:
        raise InputError(f"{folder}: checkpoint is for preset {config['preset']!r}, not {preset!r}")


def load_checkpoint(folder: str | os.PathLike, *, model: str | None = None, preset: str | None = None,
                    device: str = "cpu"):
    """The network of a checkpoint folder, after checking the weights' sha256 and the model/preset.

    Parameters
    ----------
    folder : str or os.PathLike
    model, preset : str, optional
        Expected model and preset (None: any).
    device : str, default "cpu"
        Where the weights are loaded (``torch.load(map_location=device)``).

    Returns
    -------
    net : harmony.models.base.HarmonyNet
        In eval mode on ``device``.
    config : dict
        The checkpoint's config.

    Raises
    ------
    harmony.errors.InputError
        Missing or modified weights, another model or preset, or weights that do not fit the architecture.
    """
    import torch

    from .presets import model_class

    folder = Path(folder)
    config = read_config(folder)
    check_config(config, folder, model=model, preset=preset)
    weights = folder / config["weights"]
    if not weights.is_file():
        raise InputError(f"{weights}: weights file missing")
    digest = sha256_file(weights)
    if digest != config["sha256"]:
        raise InputError(f"{weights}: sha256 mismatch (expected {config['sha256'][:12]}..., got {digest[:12]}...): "
                         "the weights are corrupted or were modified")
    net = model_class(config["model"])(**config["args"])
    try:
        state = torch.load(weights, map_location=device, weights_only=True)
        net.load_state_dict(state)
    except (RuntimeError, ValueError, EOFError, OSError) as exc:
        raise InputError(f"{weights}: cannot load into {config['model']} ({str(exc).splitlines()[0][:160]})") from None
    net.to(device).eval()
    return net, config


def find_checkpoint(method: str, weights: str | os.PathLike | None = None, *,
                    presets: tuple[str, ...] = ()) -> Path:
    """The checkpoint folder of a learned method.

    Parameters
    ----------
    method : str
        Registry name (``dih`` ...).
    weights : str or os.PathLike, optional
        A checkpoint folder (holds ``config.json``) or a folder holding ``<method>/`` or ``<preset>/``;
        without it ``$HARMONY_CHECKPOINTS`` and then ``./checkpoints`` are searched the same way.
    presets : tuple of str
        The method's preset names (sub-folders tried after ``<method>/``).

    Returns
    -------
    pathlib.Path
        The first candidate holding ``config.json``.

    Raises
    ------
    harmony.errors.MissingWeightsError
        Nothing found; the message names where it looked and the ``harmony train`` command to run.
    """
    roots: list[Path] = []
    if weights is not None:
        roots.append(Path(weights))
    else:
        env = os.environ.get("HARMONY_CHECKPOINTS")
        if env:
            roots.append(Path(env))
        roots.append(Path("checkpoints"))
    tried = []
    for root in roots:
        for cand in (root, root / method, *(root / p for p in presets)):
            tried.append(str(cand))
            if (cand / CONFIG_NAME).is_file():
                return cand
    preset = next((p for p in presets if p.endswith("_tiny")), presets[0] if presets else method)
    where = " or ".join(str(r) for r in roots)
    raise MissingWeightsError(f"{method}: no checkpoint in {where} (looked for config.json in {', '.join(tried[:4])}"
                              f"{'...' if len(tried) > 4 else ''}); train one with `harmony train {method} "
                              f"--preset {preset} --data DATA --out {roots[0] / method}`")
