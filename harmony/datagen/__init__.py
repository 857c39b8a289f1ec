"""Dataset generators. Each module registers one generator in :data:`harmony.registry.GENERATORS`."""

import importlib
import importlib.util

for _name in ("coco", "flickr", "swaps", "retouched", "real", "rendered"):
    if importlib.util.find_spec(f"{__name__}.{_name}") is not None:
        importlib.import_module(f"{__name__}.{_name}")
