"""Embedded sample data, built from photographs that installed packages ship (scikit-image, matplotlib).

Nothing is downloaded: the photos are files inside the installed packages. Generators build their
sample datasets from these (see ``coco_sample`` and the other ``*_sample`` builders) into a cache folder
(``$HARMONY_CACHE`` or ``~/.cache/harmony``), once.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# name -> (package, relative file). All RGB photographs of real scenes.
PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage", "data/astronaut.png"),
    "chelsea": ("skimage", "data/chelsea.png"),
    "coffee": ("skimage", "data/coffee.png"),
    "rocket": ("skimage", "data/rocket.jpg"),
    "motorcycle_left": ("skimage", "data/motorcycle_left.png"),
    "motorcycle_right": ("skimage", "data/motorcycle_right.png"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
}


def photo_path(name: str) -> Path:
    import importlib.util

    if name not in PHOTOS:
        raise KeyError(f"unknown sample photo {name!r}; known: {', '.join(PHOTOS)}")
    package, rel = PHOTOS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"sample photo {name!r} needs the package {package!r}")
    return Path(list(spec.submodule_search_locations)[0]) / rel


def available_photos() -> list[str]:
    return [n for n in PHOTOS if _exists(n)]


def _exists(name: str) -> bool:
    try:
        return photo_path(name).is_file()
    except (KeyError, FileNotFoundError):
        return False


def load_photo(name: str) -> np.ndarray:
    """A bundled photograph as float32 RGB (H, W, 3) in [0, 1]."""
    from .. import io as hio

    return hio.read_image(photo_path(name))


def cache_dir() -> Path:
    """Where built sample datasets live (``$HARMONY_CACHE`` or ``~/.cache/harmony``)."""
    root = Path(os.environ.get("HARMONY_CACHE") or Path.home() / ".cache" / "harmony")
    root.mkdir(parents=True, exist_ok=True)
    return root
