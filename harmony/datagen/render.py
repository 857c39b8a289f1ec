"""Mitsuba 3 scene renderer for rendered harmonization data (RdHarmony-style: Cao et al., BMVC 2022).

CharmNet (Cao et al., BMVC 2022, section 3) renders 3D scenes from many viewpoints, each in 10
capture styles, with an exactly known foreground mask. This module does the same with Mitsuba 3
(``pip install harmony-toolkit[render]``, BSD) on the CPU ``scalar_rgb`` variant:

Scenes (Z up, metres), all drawn from one seeded generator per view (``parallel.unit_rng(seed, view)``):

- **ground**: a 4 x 4 km ``rectangle`` (so it reaches the horizon) at z = 0 with a diffuse material from a palette of grass, soil,
  sand, asphalt and concrete colours (brightness jittered +-15 %).
- **foreground object** near the origin (x, y in [-0.4, 0.4]), one per view, from the built-in set
  :data:`FOREGROUND_KINDS` (each is also the row's ``category``): ``sphere`` (radius 0.35-0.6),
  ``box`` (half extents 0.25-0.55, random yaw), ``cylinder`` (radius 0.2-0.4, height 0.6-1.4, capped),
  ``snowman`` (two or three stacked spheres), ``bottle`` (capped body + neck cylinders), ``human``
  (a stick figure: two legs, torso, two arms, head). Material: ``diffuse`` or ``principled``
  (roughness 0.25-0.6, default specular) with a random saturated colour.
- **distractors**: 2-5 spheres, boxes or capped cylinders (size 0.15-0.8) at 1.1-5 m from the origin,
  never intersecting the foreground; they may occlude it (the mask accounts for occlusion).
- **camera**: ``perspective``, horizontal field of view 35-50 degrees, looking at the foreground's
  centre from distance 2.6-5 m, azimuth 0-360 degrees, elevation 4-28 degrees. A view is redrawn (up to
  20 times) until the visible foreground covers 1-60 % of the image.
- **lighting per style** (:mod:`harmony.styles`): ``sunsky`` with sun elevation/azimuth drawn from the
  style's time of day and turbidity / sun_scale / sky_scale from its weather; Night: a dim bluish
  ``constant`` sky plus a warm ``point`` lamp 2.2-3.5 m high, 1.2-2.5 m from the object.

Rendering: ``path`` integrator (max depth 3 by default: direct light plus one bounce), ``hdrfilm`` with a
``box`` pixel filter, ``independent`` sampler; linear radiance x the style's exposure -> sRGB transfer
curve -> 8-bit PNG ``<Style>.png``.

**Exact anti-aliased mask with occlusion**: the same scene (same sensor, film and box filter, every shape
present so occluders occlude) is rendered with ``path`` ``max_depth = 1`` (only directly visible
emission), no environment, and only the foreground's shapes carrying an ``area`` emitter of radiance 1;
each pixel's value is then the fraction of the pixel covered by the visible foreground (``stratified``
sampler, so the estimate is low-variance). Written as ``coverage.png`` (8-bit, anti-aliased) and
``mask.png`` (binary 0/255, ``coverage >= 0.5``: the pixel-centre rule a rasteriser applies, which is
what ``datagen rendered`` expects: RdHarmony reads only exactly-255 pixels as foreground).

Output of ``harmony render --out DIR`` (feeds ``harmony datagen rendered --scenes DIR`` directly)::

    DIR/render.json                      configuration (resume / --overwrite rule)
    DIR/contact_sheet.png                the first view in every rendered style
    DIR/view0000/<Style>.png             one per style (e.g. Clear_Noon.png, Night.png)
    DIR/view0000/mask.png  coverage.png  binary and anti-aliased foreground masks
    DIR/view0000/view.json               the scene description (category, camera, lights); written last

Variants: ``scalar_rgb`` is the default and the only one the tests use. The LLVM variants
(``llvm_ad_rgb`` ...) are refused unless the LLVM library Dr.Jit would load is version 16 or newer,
because with older LLVM (14/15, as on Debian 12) loading them aborts the whole process in native code,
which Python cannot catch. The check reads library *file names* only (``DRJIT_LIBLLVM_PATH`` or the
``libLLVM*.so*`` files Dr.Jit searches), never loads them. To enable: install LLVM 19
(``apt install libllvm19``) and ``export DRJIT_LIBLLVM_PATH=/usr/lib/x86_64-linux-gnu/libLLVM.so.19.1``
(or the file your distribution installs); ``HARMONY_ALLOW_LLVM=1`` skips the check at your own risk.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .. import io as hio
from ..errors import InputError
from ..parallel import default_workers, map_units, unit_rng, unit_seed
from ..styles import STYLES, Style

DEFAULT_VARIANT = "scalar_rgb"
INSTALL_HINT = "pip install 'harmony-toolkit[render]'  (or: pip install mitsuba)"
FOREGROUND_KINDS = ("sphere", "box", "cylinder", "snowman", "bottle", "human")
DISTRACTOR_KINDS = ("sphere", "box", "cylinder")
MIN_COVERAGE, MAX_COVERAGE = 0.01, 0.60
MAX_ATTEMPTS = 20
_LLVM_SEARCH = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib/wsl/lib",
                "/usr/lib", "/usr/local/lib")
_GROUND_PALETTE = {  # linear albedo
    "grass": (0.12, 0.22, 0.07), "soil": (0.22, 0.15, 0.09), "sand": (0.45, 0.38, 0.27),
    "asphalt": (0.09, 0.09, 0.09), "concrete": (0.35, 0.34, 0.32),
}


# --- Mitsuba availability and variants -----------------------------------------------------------------

def mitsuba_available() -> bool:
    """True when the ``mitsuba`` package can be imported (checked without importing it).

    Returns
    -------
    bool
        Whether ``import mitsuba`` would find the package.
    """
    import importlib.util
    import sys

    if "mitsuba" in sys.modules:
        return sys.modules["mitsuba"] is not None
    return importlib.util.find_spec("mitsuba") is not None


def llvm_libraries() -> list[tuple[str, int | None]]:
    """(path, major version or None) of the LLVM libraries Dr.Jit would consider, by file name only.

    Returns
    -------
    list of (str, int or None)
        ``$DRJIT_LIBLLVM_PATH`` alone when set, else every ``libLLVM*.so*`` in the usual library folders.
    """
    env = os.environ.get("DRJIT_LIBLLVM_PATH")
    paths = [env] if env else sorted({p for d in _LLVM_SEARCH for p in glob.glob(os.path.join(d, "libLLVM*.so*"))})
    out = []
    for p in paths:
        m = re.search(r"libLLVM[-.]?(?:so\.)?(\d+)", os.path.basename(os.path.realpath(p))) or \
            re.search(r"libLLVM[-.]?(?:so\.)?(\d+)", os.path.basename(p))
        out.append((p, int(m.group(1)) if m else None))
    return out


def llvm_variant_problem() -> str | None:
    """Why an ``llvm_*`` variant must not be loaded here, or None when it looks safe.

    Returns
    -------
    str or None
        The reason (no libLLVM, or one older than 16, which aborts the process), or None
        (``HARMONY_ALLOW_LLVM=1`` skips the check).
    """
    if os.environ.get("HARMONY_ALLOW_LLVM") == "1":
        return None
    libs = llvm_libraries()
    if not libs:
        return "no LLVM shared library found (Dr.Jit's LLVM backend needs libLLVM 16 or newer)"
    old = [f"{os.path.basename(p)} (LLVM {v if v is not None else 'unknown version'})"
           for p, v in libs if v is None or v < 16]
    if old:
        return (f"Dr.Jit would load {', '.join(old)}; LLVM older than 16 aborts the process when an llvm_* "
                "variant starts. Install libllvm19 and set DRJIT_LIBLLVM_PATH to it (or HARMONY_ALLOW_LLVM=1 "
                "to skip this check)")
    return None


def check_variant(variant: str) -> str:
    """Validate a Mitsuba variant name *without loading it*; raise InputError when refused.

    Parameters
    ----------
    variant : str
        A Mitsuba 3 variant (``scalar_rgb``, ``llvm_ad_rgb``, ...).

    Returns
    -------
    str
        The variant, stripped.

    Raises
    ------
    InputError
        An ``llvm_*`` variant where :func:`llvm_variant_problem` finds a problem, a ``cuda_*`` variant
        without ``HARMONY_ALLOW_CUDA=1``, an unknown name, or a variant without colour output.
    """
    variant = str(variant).strip()
    if variant.startswith("llvm_"):
        problem = llvm_variant_problem()
        if problem:
            raise InputError(f"--variant {variant}: refused, not loaded: {problem}; the default scalar_rgb works "
                             "everywhere")
    elif variant.startswith("cuda_"):
        if os.environ.get("HARMONY_ALLOW_CUDA") != "1":
            raise InputError(f"--variant {variant}: refused, not loaded: CUDA variants need an NVIDIA GPU and "
                             "driver; set HARMONY_ALLOW_CUDA=1 on such a machine")
    elif variant not in ("scalar_rgb", "scalar_spectral"):
        raise InputError(f"--variant {variant}: expected scalar_rgb (default), scalar_spectral, llvm_ad_rgb or "
                         "cuda_ad_rgb (RGB output is needed)")
    if not (variant.endswith("_rgb") or variant.endswith("_spectral")):
        raise InputError(f"--variant {variant}: a colour variant (*_rgb or *_spectral) is needed")
    return variant


def load_mitsuba(variant: str = DEFAULT_VARIANT):
    """Import Mitsuba and set ``variant`` (checked first); InputError with the install command if absent.

    Parameters
    ----------
    variant : str
        A Mitsuba 3 variant (default ``scalar_rgb``, CPU).

    Returns
    -------
    module
        ``mitsuba``, with the variant set.

    Raises
    ------
    InputError
        Mitsuba is not installed, or the variant is refused or unavailable.

    References
    ----------
    .. [1] Jakob et al., Mitsuba 3 renderer, 2022 (https://mitsuba.readthedocs.io).
    """
    variant = check_variant(variant)
    try:
        import mitsuba as mi
    except ImportError:
        raise InputError(f"Mitsuba 3 is not installed; install the render extra: {INSTALL_HINT}") from None
    if variant not in mi.variants():
        raise InputError(f"--variant {variant}: not compiled into this Mitsuba build (available: "
                         f"{', '.join(mi.variants())})")
    if mi.variant() != variant:
        mi.set_variant(variant)
    # The sunsky model's spectral-to-RGB conversion yields tiny negative blue values at low sun, which
    # Mitsuba reports per sample as "Invalid sample value" warnings (thousands per image); they are
    # harmless (clipped at tone mapping), so only errors are logged.
    mi.set_log_level(mi.LogLevel.Error)
    return mi


# --- scene description (pure data, picklable, JSON-able) ---------------------------------------------

@dataclass
class Part:
    """One primitive: sphere (center, radius), box (center, half, yaw), cylinder (p0, p1, radius)."""

    kind: str
    center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    radius: float = 0.0
    half: tuple[float, float, float] = (0.0, 0.0, 0.0)
    yaw: float = 0.0
    p0: tuple[float, float, float] = (0.0, 0.0, 0.0)
    p1: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass
class Material:
    """A surface: ``diffuse`` or ``principled`` (roughness ``alpha``) with a linear-RGB colour.
    """
    kind: str                   # diffuse | principled
    color: tuple[float, float, float]
    alpha: float = 0.4          # principled roughness


@dataclass
class SceneObject:
    """An object: its category, primitives, material and ground footprint.
    """
    category: str
    parts: list[Part]
    material: Material
    footprint: float            # radius of the bounding circle on the ground (for placement)
    center: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass
class Camera:
    """A perspective camera: origin, target and horizontal field of view (degrees).
    """
    origin: tuple[float, float, float]
    target: tuple[float, float, float]
    fov: float                  # horizontal, degrees


@dataclass
class Light:
    """The lighting of one style: sun elevation and azimuth, or the Night lamp's position.
    """
    style: str
    sun_elevation: float | None = None   # degrees
    sun_azimuth: float | None = None
    lamp_position: tuple[float, float, float] | None = None


@dataclass
class SceneSpec:
    """Everything drawn for one view (foreground, distractors, ground, camera, lights per style).
    """
    foreground: SceneObject
    distractors: list[SceneObject]
    ground: Material
    ground_name: str
    camera: Camera
    lights: dict[str, Light] = field(default_factory=dict)
    attempts: int = 1

    def to_json(self) -> dict:
        """The spec as plain data (written to ``view.json``).

        Returns
        -------
        dict
            ``dataclasses.asdict`` of the spec.
        """
        import dataclasses

        return dataclasses.asdict(self)


def _color(rng: np.random.Generator) -> tuple[float, float, float]:
    """A saturated random albedo (HSV with S 0.35-0.9, V 0.35-0.85), converted to linear RGB."""
    import colorsys

    h, s, v = rng.uniform(0, 1), rng.uniform(0.35, 0.9), rng.uniform(0.35, 0.85)
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return tuple(float(c) ** 2.2 for c in (r, g, b))


def _material(rng: np.random.Generator) -> Material:
    kind = "principled" if rng.uniform() < 0.5 else "diffuse"
    return Material(kind, _color(rng), float(rng.uniform(0.25, 0.6)))


def _make_object(kind: str, rng: np.random.Generator, x: float, y: float, scale: float = 1.0) -> SceneObject:
    mat = _material(rng)
    if kind == "sphere":
        r = float(rng.uniform(0.35, 0.6)) * scale
        return SceneObject(kind, [Part("sphere", (x, y, r), radius=r)], mat, r, (x, y, r))
    if kind == "box":
        h = tuple(float(v) * scale for v in rng.uniform(0.25, 0.55, 3))
        yaw = float(rng.uniform(0, 180))
        return SceneObject(kind, [Part("box", (x, y, h[2]), half=h, yaw=yaw)], mat, math.hypot(h[0], h[1]),
                           (x, y, h[2]))
    if kind == "cylinder":
        r = float(rng.uniform(0.2, 0.4)) * scale
        ht = float(rng.uniform(0.6, 1.4)) * scale
        return SceneObject(kind, [Part("cylinder", p0=(x, y, 0.0), p1=(x, y, ht), radius=r)], mat, r, (x, y, ht / 2))
    if kind == "snowman":
        radii = sorted(rng.uniform(0.18, 0.45, int(rng.integers(2, 4))), reverse=True)
        parts, z = [], 0.0
        for r in radii:
            r = float(r) * scale
            parts.append(Part("sphere", (x, y, z + r), radius=r))
            z += 1.85 * r
        return SceneObject(kind, parts, mat, float(radii[0]) * scale, (x, y, z / 2))
    if kind == "bottle":
        r = float(rng.uniform(0.15, 0.28)) * scale
        body = float(rng.uniform(0.5, 0.9)) * scale
        neck = float(rng.uniform(0.2, 0.35)) * scale
        parts = [Part("cylinder", p0=(x, y, 0.0), p1=(x, y, body), radius=r),
                 Part("cylinder", p0=(x, y, body), p1=(x, y, body + neck), radius=0.35 * r)]
        return SceneObject(kind, parts, mat, r, (x, y, (body + neck) / 2))
    if kind == "human":
        s = float(rng.uniform(0.8, 1.15)) * scale
        yaw = float(rng.uniform(0, 2 * math.pi))
        cx, sx = math.cos(yaw), math.sin(yaw)

        def at(u: float, z: float) -> tuple[float, float, float]:  # u: sideways offset in the figure's frame
            return (x + u * s * cx, y + u * s * sx, z * s)

        parts = [Part("cylinder", p0=at(-0.1, 0.0), p1=at(-0.1, 0.8), radius=0.07 * s),
                 Part("cylinder", p0=at(0.1, 0.0), p1=at(0.1, 0.8), radius=0.07 * s),
                 Part("cylinder", p0=at(0.0, 0.78), p1=at(0.0, 1.4), radius=0.19 * s),
                 Part("cylinder", p0=at(-0.26, 0.75), p1=at(-0.26, 1.36), radius=0.055 * s),
                 Part("cylinder", p0=at(0.26, 0.75), p1=at(0.26, 1.36), radius=0.055 * s),
                 Part("sphere", at(0.0, 1.56), radius=0.13 * s)]
        return SceneObject(kind, parts, mat, 0.35 * s, (x, y, 0.85 * s))
    raise InputError(f"unknown object kind {kind!r}; valid: {', '.join(FOREGROUND_KINDS)}")


def random_scene(rng: np.random.Generator, styles: Sequence[Style] = STYLES,
                 kinds: Sequence[str] = FOREGROUND_KINDS) -> SceneSpec:
    """Draw one view's scene (see the module docstring for the ranges).

    Parameters
    ----------
    rng : numpy.random.Generator
        The view's seeded generator.
    styles : sequence of Style
        Styles to draw lights for.
    kinds : sequence of str
        Foreground kinds to draw from (:data:`FOREGROUND_KINDS`).

    Returns
    -------
    SceneSpec
        The view's scene.
    """
    fg = _make_object(str(rng.choice(list(kinds))), rng, *rng.uniform(-0.4, 0.4, 2))
    distractors: list[SceneObject] = []
    for _ in range(int(rng.integers(2, 6))):
        for _try in range(10):
            d, a = rng.uniform(1.1, 5.0), rng.uniform(0, 2 * math.pi)
            ox, oy = d * math.cos(a), d * math.sin(a)
            obj = _make_object(str(rng.choice(DISTRACTOR_KINDS)), rng, ox, oy, scale=float(rng.uniform(0.5, 1.4)))
            placed = [fg] + distractors
            if all(math.hypot(ox - o.center[0], oy - o.center[1]) > obj.footprint + o.footprint + 0.05 for o in placed):
                distractors.append(obj)
                break
    gname = str(rng.choice(list(_GROUND_PALETTE)))
    gcol = tuple(float(c) * float(rng.uniform(0.85, 1.15)) for c in _GROUND_PALETTE[gname])
    az, el = math.radians(rng.uniform(0, 360)), math.radians(rng.uniform(4, 28))
    dist = float(rng.uniform(2.6, 5.0))
    tgt = fg.center
    origin = (tgt[0] + dist * math.cos(el) * math.cos(az), tgt[1] + dist * math.cos(el) * math.sin(az),
              tgt[2] + dist * math.sin(el))
    cam = Camera(tuple(float(v) for v in origin), tuple(float(v) for v in tgt), float(rng.uniform(35, 50)))
    lights = {}
    for st in STYLES:  # draw for all 10 so a view's lights do not depend on which styles are rendered
        if st.sun_elevation is not None:
            lights[st.name] = Light(st.name, float(rng.uniform(*st.sun_elevation)), float(rng.uniform(0, 360)))
        else:
            d, a = rng.uniform(1.2, 2.5), rng.uniform(0, 2 * math.pi)
            lights[st.name] = Light(st.name, lamp_position=(tgt[0] + d * math.cos(a), tgt[1] + d * math.sin(a),
                                                            float(rng.uniform(2.2, 3.5))))
    return SceneSpec(fg, distractors, Material("diffuse", gcol), gname, cam,
                     {k: v for k, v in lights.items() if k in {s.name for s in styles}})


# --- Mitsuba scene dictionaries -----------------------------------------------------------------------

def _bsdf(mat: Material) -> dict:
    rgb = {"type": "rgb", "value": list(mat.color)}
    if mat.kind == "principled":
        # Glossy dielectric look. (Mitsuba's roughplastic would do too, but building one costs ~0.9 s:
        # it precomputes its Fresnel tables per instance.)
        return {"type": "principled", "base_color": rgb, "roughness": float(mat.alpha)}
    return {"type": "diffuse", "reflectance": rgb}


def _part_shapes(mi, part: Part) -> list[dict]:
    transform = mi.ScalarTransform4f
    if part.kind == "sphere":
        return [{"type": "sphere", "center": list(part.center), "radius": float(part.radius)}]
    if part.kind == "box":
        return [{"type": "cube", "to_world": transform().translate(list(part.center)).rotate([0, 0, 1], part.yaw)
                 .scale(list(part.half))}]
    if part.kind == "cylinder":
        # Mitsuba's cylinder is open: cap both ends with disks (a disk faces +z in its local frame).
        p0, p1 = np.array(part.p0), np.array(part.p1)
        axis = p1 - p0
        length = float(np.linalg.norm(axis))
        z = np.array([0.0, 0.0, 1.0])
        rot_axis = np.cross(z, axis / length)
        angle = math.degrees(math.atan2(float(np.linalg.norm(rot_axis)), float(np.dot(z, axis / length))))
        if np.linalg.norm(rot_axis) < 1e-9:
            rot_axis = np.array([1.0, 0.0, 0.0])

        def disk(at: np.ndarray, flip: bool) -> dict:
            t = transform().translate(at.tolist()).rotate(rot_axis.tolist(), angle)
            if flip:
                t = t.rotate([1, 0, 0], 180)
            return {"type": "disk", "to_world": t.scale([part.radius, part.radius, 1.0])}

        return [{"type": "cylinder", "p0": p0.tolist(), "p1": p1.tolist(), "radius": float(part.radius)},
                disk(p1, False), disk(p0, True)]
    raise ValueError(f"unknown part kind {part.kind!r}")


def _sensor(mi, cam: Camera, size: tuple[int, int], sampler: dict) -> dict:
    h, w = size
    return {"type": "perspective", "fov": float(cam.fov), "fov_axis": "x",
            "to_world": mi.ScalarTransform4f().look_at(origin=list(cam.origin), target=list(cam.target), up=[0, 0, 1]),
            "film": {"type": "hdrfilm", "width": int(w), "height": int(h), "rfilter": {"type": "box"},
                     "pixel_format": "rgb"},
            "sampler": sampler}


def _geometry(mi, spec: SceneSpec, *, mask: bool) -> dict:
    """Shapes of the scene. ``mask=True``: black shapes, the foreground's carry an area emitter of 1."""
    out: dict[str, Any] = {}
    black = {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.0, 0.0, 0.0]}}
    out["ground"] = {"type": "rectangle", "to_world": mi.ScalarTransform4f().scale([2000.0, 2000.0, 1.0]),
                     "bsdf": black if mask else _bsdf(spec.ground)}
    for oi, obj in enumerate([spec.foreground] + spec.distractors):
        is_fg = oi == 0
        for pi, part in enumerate(obj.parts):
            for si, shape in enumerate(_part_shapes(mi, part)):
                shape["bsdf"] = black if mask else _bsdf(obj.material)
                if mask and is_fg:
                    shape["emitter"] = {"type": "area", "radiance": {"type": "rgb", "value": [1.0, 1.0, 1.0]}}
                out[f"{'fg' if is_fg else f'obj{oi}'}_{pi}_{si}"] = shape
    return out


def _lights(mi, spec: SceneSpec, style: Style) -> dict:
    light = spec.lights[style.name]
    if style.sun_elevation is None:
        return {"sky": {"type": "constant", "radiance": {"type": "rgb", "value": list(style.night_sky)}},
                "lamp": {"type": "point", "position": list(light.lamp_position),
                         "intensity": {"type": "rgb", "value": [style.lamp_intensity * c for c in style.lamp_color]}}}
    el, az = math.radians(light.sun_elevation), math.radians(light.sun_azimuth)
    sun = [math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)]  # sunsky is Z-up
    return {"sky": {"type": "sunsky", "sun_direction": sun, "turbidity": float(style.turbidity),
                    "sun_scale": float(style.sun_scale), "sky_scale": float(style.sky_scale)}}


def style_scene_dict(mi, spec: SceneSpec, style: Style, size: tuple[int, int], spp: int, max_depth: int = 3) -> dict:
    """The Mitsuba scene dictionary of one style's render (path integrator, geometry, lights).

    Parameters
    ----------
    mi : module
        The ``mitsuba`` module with its variant set (from :func:`load_mitsuba`).
    spec : SceneSpec
        The view.
    style : Style
        The capture style.
    size : tuple of int
        ``(height, width)``.
    spp : int
        Samples per pixel.
    max_depth : int
        Path length (3: direct light plus one bounce).

    Returns
    -------
    dict
        For ``mi.load_dict``.
    """
    d = {"type": "scene", "integrator": {"type": "path", "max_depth": int(max_depth)},
         "sensor": _sensor(mi, spec.camera, size, {"type": "independent", "sample_count": int(spp)})}
    d.update(_geometry(mi, spec, mask=False))
    d.update(_lights(mi, spec, style))
    return d


def mask_scene_dict(mi, spec: SceneSpec, size: tuple[int, int], spp: int) -> dict:
    """Depth-1 scene where only the foreground emits (radiance 1): pixel value = visible coverage.

    Parameters
    ----------
    mi : module
        The ``mitsuba`` module with its variant set (from :func:`load_mitsuba`).
    spec : SceneSpec
        The view.
    size : tuple of int
        ``(height, width)``.
    spp : int
        Samples per pixel (rounded to a square for the stratified sampler).

    Returns
    -------
    dict
        For ``mi.load_dict``.
    """
    side = max(1, int(round(math.sqrt(max(1, spp)))))
    d = {"type": "scene", "integrator": {"type": "path", "max_depth": 1},
         "sensor": _sensor(mi, spec.camera, size, {"type": "stratified", "sample_count": side * side})}
    d.update(_geometry(mi, spec, mask=True))
    return d


# --- rendering -------------------------------------------------------------------------------------

def style_params_digest() -> str:
    """A short digest of every style parameter, so a resumed render never mixes two parameter sets.

    Returns
    -------
    str
        12 hex digits of the SHA-256 of ``repr(STYLES)``.
    """
    import hashlib

    return hashlib.sha256(repr(STYLES).encode()).hexdigest()[:12]


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear radiance (already exposed) -> sRGB-encoded values in [0, 1] (IEC 61966-2-1 curve).

    Parameters
    ----------
    linear : numpy.ndarray
        Linear radiance, any shape (clipped to [0, 1]).

    Returns
    -------
    numpy.ndarray
        float32, same shape, in [0, 1].
    """
    x = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055).astype(np.float32)


def render_coverage(mi, spec: SceneSpec, size: tuple[int, int], spp: int, seed: int) -> np.ndarray:
    """The exact anti-aliased visible-foreground coverage, float32 (H, W) in [0, 1].

    Parameters
    ----------
    mi : module
        The ``mitsuba`` module with its variant set (from :func:`load_mitsuba`).
    spec : SceneSpec
        The view.
    size : tuple of int
        ``(height, width)``.
    spp : int
        Samples per pixel.
    seed : int
        Sampler seed.

    Returns
    -------
    numpy.ndarray
        float32 (H, W) in [0, 1].
    """
    scene = mi.load_dict(mask_scene_dict(mi, spec, size, spp))
    img = np.asarray(mi.render(scene, spp=max(1, int(round(math.sqrt(max(1, spp))))) ** 2, seed=int(seed) & 0xFFFFFFFF))
    return np.clip(img.mean(axis=2), 0.0, 1.0).astype(np.float32)


def render_style(mi, spec: SceneSpec, style: Style, size: tuple[int, int], spp: int, seed: int,
                 max_depth: int = 3) -> np.ndarray:
    """One style's render: float32 sRGB (H, W, 3) in [0, 1].

    Parameters
    ----------
    mi : module
        The ``mitsuba`` module with its variant set (from :func:`load_mitsuba`).
    spec : SceneSpec
        The view.
    style : Style
        The capture style (its exposure scales the linear radiance).
    size : tuple of int
        ``(height, width)``.
    spp : int
        Samples per pixel.
    seed : int
        Sampler seed.
    max_depth : int
        Path length.

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 3) sRGB in [0, 1].
    """
    scene = mi.load_dict(style_scene_dict(mi, spec, style, size, spp, max_depth))
    lin = np.asarray(mi.render(scene, spp=int(spp), seed=int(seed) & 0xFFFFFFFF), dtype=np.float32)
    return srgb_encode(lin * np.float32(style.exposure))


def draw_view(mi, rng: np.random.Generator, styles: Sequence[Style], size: tuple[int, int], spp: int,
              mask_seed: int, kinds: Sequence[str] = FOREGROUND_KINDS) -> tuple[SceneSpec, np.ndarray]:
    """Draw scenes until the visible foreground covers MIN_COVERAGE-MAX_COVERAGE of the image.

    Parameters
    ----------
    mi : module
        The ``mitsuba`` module with its variant set (from :func:`load_mitsuba`).
    rng : numpy.random.Generator
        The view's seeded generator.
    styles : sequence of Style
        Styles to draw lights for.
    size : tuple of int
        ``(height, width)``.
    spp : int
        Samples per pixel of the coverage render.
    mask_seed : int
        Seed of the coverage renders (plus the attempt number).
    kinds : sequence of str
        Foreground kinds to draw from.

    Returns
    -------
    spec : SceneSpec
        The accepted scene (or the last draw).
    coverage : numpy.ndarray
        float32 (H, W) in [0, 1].
    """
    coverage = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        spec = random_scene(rng, styles, kinds)
        spec.attempts = attempt
        coverage = render_coverage(mi, spec, size, spp, mask_seed + attempt)
        covered = float(coverage.mean())
        if MIN_COVERAGE <= covered <= MAX_COVERAGE:
            return spec, coverage
    return spec, coverage  # the last draw; the caller records its coverage


@dataclass(frozen=True)
class RenderUnit:
    """One view to render (picklable work unit).
    """
    key: str                 # view id, e.g. view0003
    out: str
    seed: int
    styles: tuple[str, ...]
    size: tuple[int, int]
    spp: int
    mask_spp: int
    max_depth: int
    variant: str
    kinds: tuple[str, ...]
    threads: int
    ext: str = ".png"


def render_view_work(unit: RenderUnit) -> dict:
    """Render one view (all its styles + masks) into ``<out>/<view>/``; view.json is written last.

    Parameters
    ----------
    unit : RenderUnit
        The view, its seed, styles, size and sampling.

    Returns
    -------
    dict
        ``seconds``, ``images`` written, ``coverage`` and the draw count.
    """
    mi = load_mitsuba(unit.variant)
    if unit.threads:
        import drjit as dr

        dr.set_thread_count(int(unit.threads))
    from ..styles import style_by_name

    styles = [style_by_name(n) for n in unit.styles]
    rng = unit_rng(unit.seed, unit.key)
    base_seed = unit_seed(unit.seed, unit.key + ":mitsuba") & 0x7FFFFFFF
    t0 = time.perf_counter()
    spec, cov = draw_view(mi, rng, styles, unit.size, unit.mask_spp, base_seed, unit.kinds)
    folder = Path(unit.out) / unit.key
    folder.mkdir(parents=True, exist_ok=True)
    hio.write_mask(folder / "coverage.png", cov)
    hio.write_mask(folder / "mask.png", cov >= 0.5)
    t_mask = time.perf_counter() - t0
    times = {}
    for st in styles:
        t = time.perf_counter()
        img = render_style(mi, spec, st, unit.size, unit.spp, base_seed + 1000 + st.id, unit.max_depth)
        hio.write_image(folder / f"{st.name}{unit.ext}", img)
        times[st.name] = time.perf_counter() - t
    info = {"view": unit.key, "category": spec.foreground.category, "coverage": float(cov.mean()),
            "mask_fg_ratio": float((cov >= 0.5).mean()), "styles": list(unit.styles), "size": list(unit.size),
            "spp": unit.spp, "mask_spp": unit.mask_spp, "max_depth": unit.max_depth, "variant": unit.variant,
            "seed": unit.seed, "tool_version": __version__, "mitsuba_version": getattr(mi, "__version__", ""),
            "scene": spec.to_json(), "seconds": {"mask": t_mask, **times}}
    hio.atomic_write_text(folder / "view.json", json.dumps(info, indent=1, sort_keys=True) + "\n")
    return {"seconds": time.perf_counter() - t0, "images": len(styles) + 1, "coverage": info["coverage"],
            "attempts": spec.attempts}


def contact_sheet(images: Sequence[tuple[str, np.ndarray]], cols: int = 5, label: bool = True) -> np.ndarray:
    """Tile (name, image) pairs into one float32 RGB image with the names written under each tile.

    Parameters
    ----------
    images : sequence of (str, numpy.ndarray)
        (name, float32 (H, W, 3) in [0, 1]) of equal sizes.
    cols : int
        Tiles per row.
    label : bool
        Write the names under the tiles.

    Returns
    -------
    numpy.ndarray
        float32 RGB in [0, 1]: the tiles in rows of ``cols``, each name under its tile.
    """
    import cv2

    if not images:
        raise ValueError("contact_sheet: no images")
    h, w = images[0][1].shape[:2]
    band = max(12, h // 10) if label else 0
    rows = math.ceil(len(images) / cols)
    sheet = np.full((rows * (h + band), cols * w, 3), 255, np.uint8)
    for k, (name, img) in enumerate(images):
        r, c = divmod(k, cols)
        if img.shape[:2] != (h, w):
            raise ValueError(f"contact_sheet: {name} is {img.shape[:2]}, expected {(h, w)}")
        y0 = r * (h + band)
        sheet[y0:y0 + h, c * w:(c + 1) * w] = hio.to_uint8(img)
        if label:
            text = name.replace("PartlyCloudy", "PCloudy").replace("SunriseSunset", "Sunrise/set")
            scale = max(0.25, band / 40.0)
            cv2.putText(sheet, text, (c * w + 2, y0 + h + band - 4), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        (0, 0, 0), 1, cv2.LINE_AA)
    return sheet.astype(np.float32) / np.float32(255.0)


def contact_sheet_of_view(view_dir: str | os.PathLike, cols: int = 5) -> np.ndarray:
    """Contact sheet of every style render found in one view folder (id order).

    Parameters
    ----------
    view_dir : str or os.PathLike
        A view folder (``<Style>.png`` renders).
    cols : int
        Tiles per row.

    Returns
    -------
    numpy.ndarray
        float32 RGB in [0, 1] (see :func:`contact_sheet`).
    """
    view_dir = Path(view_dir)
    found = []
    for st in STYLES:
        for ext in hio.IMAGE_EXTENSIONS:
            p = view_dir / f"{st.name}{ext}"
            if p.is_file():
                found.append((st.name, hio.read_image(p)))
                break
    if not found:
        raise InputError(f"{view_dir}: no style renders (<Style>.png) found")
    return contact_sheet(found, cols=cols)


@dataclass
class RenderSummary:
    """Counts of a ``harmony render`` run, printed through :meth:`lines`.
    """
    out: str
    views_total: int
    views_resumed: int
    views_run: int = 0
    images: int = 0
    seconds: float = 0.0
    per_view: list[float] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    contact_sheet: str | None = None

    def lines(self) -> list[str]:
        """The summary the command prints.

        Returns
        -------
        list of str
            Views (total, rendered, resumed, failed), images per second, failures, the contact sheet and the
            next command to run.
        """
        out = [f"views: {self.views_total} total, {self.views_run} rendered now, {self.views_resumed} already done "
               f"(resumed), {len(self.failed)} failed; output in {self.out}"]
        if self.views_run:
            med = float(np.median(self.per_view)) if self.per_view else 0.0
            out.append(f"rendered {self.images} images in {self.seconds:.1f} s "
                       f"({self.images / self.seconds if self.seconds else 0:.2f} images/s; median {med:.1f} s per view)")
        for k, e in self.failed[:20]:
            out.append(f"  FAILED {k}: {e}")
        if self.contact_sheet:
            out.append(f"contact sheet: {self.contact_sheet}")
        out.append(f"next: harmony datagen rendered --scenes {self.out} --out <dataset dir>")
        return out


def render_views(out: str | os.PathLike, *, styles: str = "all", objects: str = "all", variant: str = DEFAULT_VARIANT,
                 **options: Any) -> RenderSummary:
    """``harmony render``: parse the style and object lists, check the variant and Mitsuba, then render.

    Parameters
    ----------
    out : str or os.PathLike
        Output folder.
    styles : str
        ``"all"`` or comma-separated style names / ids 1-10 (see :func:`harmony.styles.parse_styles`).
    objects : str
        ``"all"`` or comma-separated foreground kinds from :data:`FOREGROUND_KINDS`.
    variant : str
        Mitsuba variant (checked without loading it).
    **options
        The other keyword arguments of :func:`render_dataset`.

    Returns
    -------
    RenderSummary
        As :func:`render_dataset`.

    Raises
    ------
    InputError
        An unknown style, a refused variant, or Mitsuba 3 not installed.
    """
    from ..styles import parse_styles

    chosen = parse_styles(styles)
    kinds = FOREGROUND_KINDS if objects.strip().lower() == "all" else tuple(
        kind.strip() for kind in objects.split(",") if kind.strip())
    check_variant(variant)
    if not mitsuba_available():
        raise InputError(f"Mitsuba 3 is not installed. Install the render extra: {INSTALL_HINT}")
    return render_dataset(out, styles=chosen, kinds=kinds, variant=variant, **options)


def render_dataset(out: str | os.PathLike, *, views: int, styles: Sequence[Style] = STYLES, size: int | tuple[int, int] = 256,
                   spp: int = 64, mask_spp: int | None = None, seed: int = 0, max_depth: int = 3,
                   variant: str = DEFAULT_VARIANT, kinds: Sequence[str] = FOREGROUND_KINDS, workers: int | None = 1,
                   scheduler: Any = None, overwrite: bool = False, progress: bool = True,
                   image_format: str = "png", sheet: bool = True) -> RenderSummary:
    """Render ``views`` views in the given styles into ``out`` (see the module docstring for the layout).

    Resumable: a view is done when its ``view.json`` exists; the same configuration resumes, another one
    is refused unless ``overwrite``. ``workers`` processes render views in parallel; each uses
    ``cores // workers`` render threads.

    Parameters
    ----------
    out : str or os.PathLike
        Output folder (one view folder each).
    views : int
        Number of viewpoints.
    styles : sequence of Style
        Styles rendered per view.
    size : int or tuple of int
        Image side, or ``(height, width)`` (8-8192).
    spp : int
        Samples per pixel.
    mask_spp : int or None
        Samples per pixel of the coverage mask (default ``max(16, spp)``).
    seed : int
        Seed of the scenes (same seed, same scenes).
    max_depth : int
        Path length.
    variant : str
        Mitsuba variant (default ``scalar_rgb``).
    kinds : sequence of str
        Foreground kinds.
    workers : int or None
        Render processes (0: in this process).
    scheduler, overwrite, progress
        As in :func:`harmony.datagen.runner.generate`.
    image_format : {"png", "jpg"}
        Render format.
    sheet : bool
        Write a contact sheet of the first views.

    Returns
    -------
    RenderSummary
        Views rendered and resumed, images per second, failures.

    Raises
    ------
    InputError
        Mitsuba missing, a refused variant, or out-of-range options.

    References
    ----------
    .. [1] Cao et al., "Deep Image Harmonization by Bridging the Reality Gap" (RdHarmony / CharmNet),
       BMVC 2022, section 3 (10 capture styles per view).
    .. [2] Jakob et al., Mitsuba 3 renderer, 2022 (https://mitsuba.readthedocs.io).
    """
    variant = check_variant(variant)
    if not mitsuba_available():
        raise InputError(f"Mitsuba 3 is not installed; install the render extra: {INSTALL_HINT}")
    if views < 1:
        raise InputError(f"--views {views}: expected at least 1")
    hw = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if min(hw) < 8 or max(hw) > 8192:
        raise InputError(f"--size {size}: expected 8-8192 pixels")
    if spp < 1:
        raise InputError(f"--spp {spp}: expected at least 1")
    bad = [k for k in kinds if k not in FOREGROUND_KINDS]
    if bad or not kinds:
        raise InputError(f"--objects {','.join(bad) or '(none)'}: valid kinds are {', '.join(FOREGROUND_KINDS)}")
    ext = "." + image_format.lower().lstrip(".")
    if ext not in (".png", ".jpg"):
        raise InputError(f"--format {image_format}: expected png or jpg")
    mask_spp = int(mask_spp or max(16, spp))
    out = Path(out)
    config = {"views": int(views), "styles": [s.name for s in styles], "size": list(hw), "spp": int(spp),
              "mask_spp": mask_spp, "seed": int(seed), "max_depth": int(max_depth), "variant": variant,
              "objects": list(kinds), "format": ext, "style_params": style_params_digest()}
    run_json = out / "render.json"
    if out.is_dir() and any(out.iterdir()):
        prev = None
        if run_json.is_file():
            try:
                prev = json.loads(run_json.read_text()).get("config")
            except (OSError, json.JSONDecodeError):
                prev = None
        if prev != config:
            if not overwrite:
                what = "another render's configuration" if prev is not None else "files that are not a harmony render"
                raise InputError(f"{out}: holds {what}; use --overwrite to replace it or choose another --out")
            for p in out.iterdir():
                if p.is_dir() and (p / "view.json").exists() or p.is_dir() and re.fullmatch(r"view\d+", p.name):
                    shutil.rmtree(p)
                elif p.name in ("render.json", "contact_sheet.png"):
                    p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    hio.atomic_write_text(run_json, json.dumps({"command": "render", "config": config, "tool": "harmony",
                                                "tool_version": __version__}, indent=2, sort_keys=True) + "\n")
    n_workers = 1 if workers is None else int(workers)
    threads = max(1, default_workers() // max(1, n_workers)) if scheduler is None else 1
    width = max(4, len(str(views - 1)))
    units = [RenderUnit(f"view{v:0{width}d}", str(out), int(seed), tuple(s.name for s in styles), hw, int(spp),
                        mask_spp, int(max_depth), variant, tuple(kinds), threads, ext) for v in range(views)]
    pending = [u for u in units if not (out / u.key / "view.json").is_file()]
    summary = RenderSummary(str(out), len(units), len(units) - len(pending))
    t0 = time.perf_counter()
    if n_workers == 0 and scheduler is None:
        results = map_units(render_view_work, pending, workers=0, progress=progress, desc="render")
    else:
        results = map_units(render_view_work, pending, workers=max(1, n_workers), scheduler=scheduler,
                            progress=progress, desc="render", max_in_flight=max(1, n_workers))
    for res in results:
        if res.ok:
            summary.views_run += 1
            summary.images += res.value["images"]
            summary.per_view.append(res.value["seconds"])
        else:
            summary.failed.append((res.key, res.error or "failed"))
    summary.seconds = time.perf_counter() - t0
    if sheet and (out / units[0].key / "view.json").is_file():
        path = out / "contact_sheet.png"
        hio.write_image(path, contact_sheet_of_view(out / units[0].key))
        summary.contact_sheet = str(path)
    return summary
