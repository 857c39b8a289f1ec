"""The 10 capture styles of rendered harmonization data (RdHarmony / CharmNet: Cao et al., BMVC 2022).

This module is the ONE place for the style taxonomy: names, 1-based ids, soft labels, and the parameters
each style uses, both for the Mitsuba renderer (:mod:`harmony.datagen.render`) and for the synthetic
fallback sample set (:mod:`harmony.datagen.rendered`, built from bundled photographs when Mitsuba is not
installed).

The paper (Cao, Cong, Niu et al., *Deep Image Harmonization by Bridging the Reality Gap*, BMVC 2022,
section 3) defines 10 styles: {Clear, PartlyCloudy, Cloudy} x
{sunrise&sunset, noon, other times} + Night; ids 1-10 in this order::

    1 Clear_SunriseSunset         4 PartlyCloudy_SunriseSunset   7 Cloudy_SunriseSunset    10 Night
    2 Clear_Noon                  5 PartlyCloudy_Noon            8 Cloudy_Noon
    3 Clear_OtherTimes            6 PartlyCloudy_OtherTimes      9 Cloudy_OtherTimes

Rendering parameters (our choices; the paper used Unity3D + UniStorm, whose settings are not published):

- **time of day** sets the sun elevation (degrees above the horizon, drawn uniformly per view and style
  from the range): sunrise/sunset 2-8, noon 60-80, other times 20-40; the sun azimuth is drawn uniformly
  in [0, 360) per view and style.
- **weather** sets the Mitsuba ``sunsky`` emitter's ``turbidity`` and ``sun_scale`` / ``sky_scale``
  (``sunsky`` has no clouds, so cloudiness is haze plus a dimmed or hidden sun disc and a brighter sky):
  Clear 2.5 / 1.0 / 1.0, PartlyCloudy 5.0 / 0.35 / 1.6, Cloudy 9.0 / 0.0 / 2.6.
- **Night**: ``sunsky`` has no night sky (zero below the horizon), so Night uses a dim bluish ``constant``
  environment (the "dim sky") plus one warm ``point`` light (the "artificial light", a street lamp placed
  near the foreground object).
- **exposure** multiplies linear radiance before the sRGB transfer curve (a fixed per-style camera
  exposure, so that the styles differ in brightness as captures do, yet none is black or burnt out).

Synthetic fallback parameters (global illumination changes applied to a photograph, used only when
Mitsuba is absent and always marked ``synthetic``): ``gain`` (brightness), ``white`` (per-channel RGB
gains: warm for sunrise/sunset, cool for cloudy and night), ``saturation``, ``gamma`` (contrast of the
tone curve), ``haze`` (blend towards a grey-blue veil) and, for Night only, ``lamp`` (strength of a warm
radial glow, the artificial light).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InputError

WEATHERS = ("Clear", "PartlyCloudy", "Cloudy")
TIMES = ("SunriseSunset", "Noon", "OtherTimes")


@dataclass(frozen=True)
class Style:
    """One capture style. Frozen: these are the documented constants of the taxonomy."""

    id: int                                   # 1-based, as in the RdHarmony label file
    name: str                                 # file stem of a render: <name>.png
    weather: str                              # Clear | PartlyCloudy | Cloudy | Night
    time: str                                 # SunriseSunset | Noon | OtherTimes | Night
    # --- Mitsuba (sunsky) ---
    sun_elevation: tuple[float, float] | None  # degrees; None for Night
    turbidity: float
    sun_scale: float
    sky_scale: float
    exposure: float
    night_sky: tuple[float, float, float] | None = None   # constant environment radiance (Night)
    lamp_intensity: float = 0.0                           # point-light intensity (Night), W/sr-like
    lamp_color: tuple[float, float, float] = (1.0, 0.72, 0.42)
    # --- synthetic fallback (photo-based) ---
    gain: float = 1.0
    white: tuple[float, float, float] = (1.0, 1.0, 1.0)
    saturation: float = 1.0
    gamma: float = 1.0
    haze: float = 0.0
    lamp: float = 0.0

    @property
    def index(self) -> int:
        """0-based position in the 10-vector."""
        return self.id - 1


_TIME_ELEV = {"SunriseSunset": (2.0, 8.0), "Noon": (60.0, 80.0), "OtherTimes": (20.0, 40.0)}
_WEATHER_SKY = {"Clear": (2.5, 1.0, 1.0), "PartlyCloudy": (5.0, 0.35, 1.6), "Cloudy": (9.0, 0.0, 2.6)}
# Exposure per (weather, time), calibrated once (8 random views) so the median linear luminance is about
# 0.20 (Clear noon) down to 0.06 (Cloudy sunrise/sunset) and 0.025 (Night): styles keep their relative
# brightness order, as captures do, without black or burnt-out frames.
_EXPOSURE = {
    ("Clear", "SunriseSunset"): 10.0, ("Clear", "Noon"): 1.7, ("Clear", "OtherTimes"): 2.75,
    ("PartlyCloudy", "SunriseSunset"): 6.0, ("PartlyCloudy", "Noon"): 2.15, ("PartlyCloudy", "OtherTimes"): 2.5,
    ("Cloudy", "SunriseSunset"): 2.7, ("Cloudy", "Noon"): 0.86, ("Cloudy", "OtherTimes"): 1.1,
}
# Synthetic fallback: time of day sets the white balance and gain, weather the saturation/contrast/haze.
_SYN_TIME = {"SunriseSunset": (0.8, (1.3, 0.95, 0.6)), "Noon": (1.08, (1.0, 1.0, 1.0)),
             "OtherTimes": (0.97, (1.05, 1.0, 0.92))}
_SYN_WEATHER = {"Clear": (1.15, 0.9, 0.0), "PartlyCloudy": (0.95, 1.0, 0.08),
                "Cloudy": (0.6, 1.15, 0.22)}


def _build() -> tuple[Style, ...]:
    out = []
    sid = 0
    for weather in WEATHERS:
        for time in TIMES:
            sid += 1
            turb, sun_s, sky_s = _WEATHER_SKY[weather]
            gain_t, white = _SYN_TIME[time]
            sat, gamma, haze = _SYN_WEATHER[weather]
            if weather == "Cloudy":
                white = tuple(0.5 * w + 0.5 * c for w, c in zip(white, (0.95, 1.0, 1.07)))
            out.append(Style(sid, f"{weather}_{time}", weather, time, _TIME_ELEV[time], turb, sun_s, sky_s,
                             _EXPOSURE[(weather, time)], gain=gain_t * (0.85 if weather == "Cloudy" else 1.0),
                             white=white, saturation=sat, gamma=gamma, haze=haze))
    out.append(Style(10, "Night", "Night", "Night", None, 0.0, 0.0, 0.0, exposure=3.3,
                     night_sky=(0.004, 0.007, 0.016), lamp_intensity=6.0,
                     gain=0.08, white=(0.7, 0.85, 1.3), saturation=0.6, gamma=1.15, haze=0.0, lamp=0.45))
    return tuple(out)


STYLES: tuple[Style, ...] = _build()
N_STYLES = len(STYLES)
STYLE_NAMES: tuple[str, ...] = tuple(s.name for s in STYLES)
_BY_LOWER = {s.name.lower(): s for s in STYLES}

assert STYLE_NAMES == (
    "Clear_SunriseSunset", "Clear_Noon", "Clear_OtherTimes", "PartlyCloudy_SunriseSunset",
    "PartlyCloudy_Noon", "PartlyCloudy_OtherTimes", "Cloudy_SunriseSunset", "Cloudy_Noon",
    "Cloudy_OtherTimes", "Night"), "style order is the RdHarmony id order (RdHarmony label file)"


def style_by_id(style_id: int) -> Style:
    """The style with a 1-based RdHarmony id.

    Parameters
    ----------
    style_id : int
        1..10, in the RdHarmony order (:data:`STYLE_NAMES`).

    Returns
    -------
    Style

    Raises
    ------
    harmony.errors.InputError
        For an id outside 1..10.
    """
    if not 1 <= int(style_id) <= N_STYLES:
        raise InputError(f"style id {style_id}: expected 1-{N_STYLES}")
    return STYLES[int(style_id) - 1]


def lookup(name: str) -> Style | None:
    """The style whose name matches ``name`` (case-insensitive), else None.

    Parameters
    ----------
    name : str

    Returns
    -------
    Style or None
    """
    return _BY_LOWER.get(str(name).strip().lower())


def style_by_name(name: str) -> Style:
    """The style with a name (case-insensitive).

    Parameters
    ----------
    name : str
        One of :data:`STYLE_NAMES`, e.g. ``"Clear_Noon"``.

    Returns
    -------
    Style

    Raises
    ------
    harmony.errors.InputError
        For an unknown name (the message lists the valid ones).
    """
    s = lookup(name)
    if s is None:
        raise InputError(f"unknown style {name!r}; valid names: {', '.join(STYLE_NAMES)}")
    return s


def parse_styles(spec: str | Sequence[str] | None) -> tuple[Style, ...]:
    """Parse a style selection.

    Parameters
    ----------
    spec : str, sequence of str, or None
        ``all`` (or None, or empty), or a comma-separated list (or a sequence) of names and/or 1-based ids
        (``1,2,Night``).

    Returns
    -------
    tuple of Style
        In id order, without duplicates.

    Raises
    ------
    harmony.errors.InputError
        For an unknown name or an id outside 1..10.
    """
    if spec is None:
        return STYLES
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    items = [str(x).strip() for x in items if str(x).strip()]
    if not items or any(x.lower() == "all" for x in items):
        return STYLES
    chosen = set()
    for x in items:
        if re.fullmatch(r"\d+", x):
            chosen.add(style_by_id(int(x)).id)
        else:
            chosen.add(style_by_name(x).id)
    return tuple(s for s in STYLES if s.id in chosen)


def onehot(style_id: int) -> np.ndarray:
    """One-hot style vector.

    Parameters
    ----------
    style_id : int
        1..10.

    Returns
    -------
    ndarray, shape (10,), float64
        1 at the style's index, 0 elsewhere.

    Raises
    ------
    harmony.errors.InputError
        For an id outside 1..10.
    """
    v = np.zeros(N_STYLES, np.float64)
    v[style_by_id(style_id).index] = 1.0
    return v


def soft_label(bg_style: int, fg_style: int, fg_ratio: float) -> np.ndarray:
    """RdHarmony soft label of a composite: ``r * onehot(fg) + (1 - r) * onehot(bg)``.

    Parameters
    ----------
    bg_style, fg_style : int
        1-based style ids of the background (ground truth) and of the foreground.
    fg_ratio : float
        Foreground area ratio r in [0, 1].

    Returns
    -------
    ndarray, shape (10,), float64
        Sums to one.

    Raises
    ------
    ValueError
        For a ratio outside [0, 1].
    harmony.errors.InputError
        For a style id outside 1..10.

    References
    ----------
    .. [1] J. Cao, W. Cong, L. Niu, J. Zhang, L. Zhang, *Deep Image Harmonization by Bridging the Reality
       Gap*, BMVC 2022, section 3.
    """
    r = float(fg_ratio)
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"fg_ratio: expected a value in [0, 1], got {r}")
    return r * onehot(fg_style) + (1.0 - r) * onehot(bg_style)


def format_soft_label(bg_style: int, fg_style: int, fg_ratio: float, digits: int = 6) -> str:
    """The RdHarmony label file's field 2: 10 decimals joined by ``_``.

    The ratio is rounded first so the printed values sum to exactly one (``r6`` and ``1 - r6`` are both
    exact at ``digits`` decimals).

    Parameters
    ----------
    bg_style, fg_style : int
        1-based style ids of the background (ground truth) and of the foreground.
    fg_ratio : float
        Foreground area ratio r in [0, 1].
    digits : int, optional
        Decimals per value (default 6).

    Returns
    -------
    str
        E.g. ``0.250000_0.000000_..._0.750000``.
    """
    r = round(float(fg_ratio), digits)
    vals = [0.0] * N_STYLES
    vals[style_by_id(bg_style).index] += 1.0 - r
    vals[style_by_id(fg_style).index] += r
    return "_".join(f"{v:.{digits}f}" for v in vals)


def names(styles: Iterable[Style]) -> list[str]:
    """Names of styles, in the given order.

    Parameters
    ----------
    styles : iterable of Style

    Returns
    -------
    list of str
    """
    return [s.name for s in styles]
