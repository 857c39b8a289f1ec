"""`harmony render` (Mitsuba 3, scalar_rgb) and its exact anti-aliased mask (RdHarmony-style renders, Cao et al., BMVC 2022).

The mask check is analytic: a sphere of radius R on the optical axis at distance d projects to a circle
of radius f * tan(asin(R / d)) pixels (f = (W / 2) / tan(fov / 2)); the expected per-pixel coverage is
computed here by supersampling that circle, independently of Mitsuba.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from harmony.datagen import render as R
from harmony.errors import InputError
from harmony.styles import style_by_name

needs_mitsuba = pytest.mark.skipif(not R.mitsuba_available(),
                                   reason="the render extra (pip install 'harmony-toolkit[render]') is absent")


def _circle_coverage(size: int, radius_px: float, sub: int = 32) -> np.ndarray:
    """Fraction of each pixel inside a circle centred on the image centre (supersampled)."""
    offs = (np.arange(sub) + 0.5) / sub
    cov = np.zeros((size, size))
    c = size / 2.0
    for y in range(size):
        ys = y + offs[:, None]
        for x in range(size):
            xs = x + offs[None, :]
            cov[y, x] = np.mean((xs - c) ** 2 + (ys - c) ** 2 <= radius_px ** 2)
    return cov


def _sphere_spec(occluder: bool = False) -> R.SceneSpec:
    fg = R.SceneObject("sphere", [R.Part("sphere", (0.0, 0.0, 1.0), radius=0.5)],
                       R.Material("diffuse", (0.5, 0.5, 0.5)), 0.5, (0.0, 0.0, 1.0))
    others = []
    if occluder:  # a smaller sphere between camera and object, also on the axis
        others.append(R.SceneObject("sphere", [R.Part("sphere", (2.0, 0.0, 1.0), radius=0.125)],
                                    R.Material("diffuse", (0.2, 0.2, 0.2)), 0.125, (2.0, 0.0, 1.0)))
    spec = R.SceneSpec(fg, others, R.Material("diffuse", (0.3, 0.3, 0.3)), "test",
                       R.Camera((4.0, 0.0, 1.0), (0.0, 0.0, 1.0), 30.0))
    spec.lights = {"Clear_Noon": R.Light("Clear_Noon", 70.0, 30.0),
                   "Night": R.Light("Night", lamp_position=(1.0, 1.0, 3.0))}
    return spec


def _px_radius(R_: float, d: float, size: int = 32, fov: float = 30.0) -> float:
    f = (size / 2) / math.tan(math.radians(fov / 2))
    return f * math.tan(math.asin(R_ / d))


@needs_mitsuba
def test_tiny_render_mask_matches_projected_sphere():
    mi = R.load_mitsuba()
    assert mi.variant() == "scalar_rgb"
    cov = R.render_coverage(mi, _sphere_spec(), (32, 32), spp=256, seed=1)
    expected = _circle_coverage(32, _px_radius(0.5, 4.0))
    assert cov.shape == (32, 32)
    assert abs(cov.sum() - expected.sum()) / expected.sum() < 0.005
    assert np.abs(cov - expected).max() < 0.05          # stratified 16x16 per pixel (observed <= 0.022)
    assert np.all(cov[expected == 0] == 0) and np.all(cov[expected == 1] == 1)
    # Occlusion: a smaller sphere in front removes exactly its own projected disc.
    cov_o = R.render_coverage(mi, _sphere_spec(occluder=True), (32, 32), spp=256, seed=1)
    exp_o = expected - _circle_coverage(32, _px_radius(0.125, 2.0))
    assert abs(cov_o.sum() - exp_o.sum()) / exp_o.sum() < 0.005
    assert np.abs(cov_o - exp_o).max() < 0.05


@needs_mitsuba
def test_tiny_style_renders():
    mi = R.load_mitsuba()
    spec = _sphere_spec()
    noon = R.render_style(mi, spec, style_by_name("Clear_Noon"), (16, 16), spp=4, seed=2)
    night = R.render_style(mi, spec, style_by_name("Night"), (16, 16), spp=4, seed=2)
    for img in (noon, night):
        assert img.shape == (16, 16, 3) and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
    assert night.mean() < 0.6 * noon.mean()
    again = R.render_style(mi, spec, style_by_name("Clear_Noon"), (16, 16), spp=4, seed=2)
    np.testing.assert_array_equal(noon, again)                       # seeded


def test_scene_draw_is_seeded():
    from harmony.parallel import unit_rng

    a = R.random_scene(unit_rng(5, "view0001")).to_json()
    b = R.random_scene(unit_rng(5, "view0001")).to_json()
    c = R.random_scene(unit_rng(6, "view0001")).to_json()
    assert a == b and a != c
    assert a["foreground"]["category"] in R.FOREGROUND_KINDS
    assert 35 <= a["camera"]["fov"] <= 50


@needs_mitsuba
def test_render_cli_feeds_datagen(tmp_path, cli):
    out = tmp_path / "renders"
    args = ["render", "--out", str(out), "--views", "1", "--size", "24", "--spp", "2", "--mask-spp", "4",
            "--styles", "Clear_Noon,Night,3", "--workers", "0", "--seed", "4", "--quiet"]
    code, text = cli(args)
    assert code == 0, text
    view = out / "view0000"
    assert sorted(p.name for p in view.iterdir()) == sorted(
        ["Clear_Noon.png", "Clear_OtherTimes.png", "Night.png", "mask.png", "coverage.png", "view.json"])
    assert (out / "contact_sheet.png").is_file()
    code2, text2 = cli(args[:2] + [str(tmp_path / "again")] + args[3:])
    assert code2 == 0
    assert (tmp_path / "again" / "view0000" / "Night.png").read_bytes() == (view / "Night.png").read_bytes()
    code, text = cli(["datagen", "rendered", "--scenes", str(out), "--out", str(tmp_path / "data"),
                      "--workers", "0", "--quiet"])
    assert code == 0, text
    assert len((tmp_path / "data" / "labels.txt").read_text().splitlines()) == 6
    code, text = cli(args[:4] + ["2"] + args[5:])                 # another config into the same folder
    assert code == 2 and "--overwrite" in text


def test_llvm_variant_refused_never_loaded(monkeypatch, tmp_path, cli):
    monkeypatch.setenv("DRJIT_LIBLLVM_PATH", "/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1")
    monkeypatch.delenv("HARMONY_ALLOW_LLVM", raising=False)
    with pytest.raises(InputError, match="refused"):
        R.check_variant("llvm_ad_rgb")
    with pytest.raises(InputError, match="refused"):
        R.load_mitsuba("llvm_ad_rgb")
    code, text = cli(["render", "--out", str(tmp_path / "r"), "--variant", "llvm_ad_rgb", "--views", "1"])
    assert code == 2 and "refused" in text and "Traceback" not in text
    assert not (tmp_path / "r").exists()
    assert not any("llvm" in name for name in sys.modules if name.startswith("mitsuba"))
    if R.mitsuba_available():
        import mitsuba as mi
        assert not mi.variant() or not mi.variant().startswith("llvm")
    # With LLVM 19 named, the check passes (nothing is loaded by the check itself).
    monkeypatch.setenv("DRJIT_LIBLLVM_PATH", "/usr/lib/x86_64-linux-gnu/libLLVM.so.19.1")
    assert R.check_variant("llvm_ad_rgb") == "llvm_ad_rgb"
    with pytest.raises(InputError, match="expected"):
        R.check_variant("scalar_mono")


def test_unknown_style_name_refused(tmp_path, cli):
    code, text = cli(["render", "--out", str(tmp_path / "r"), "--styles", "Clear_Noon,Foggy_Dawn"])
    assert code == 2 and "unknown style 'Foggy_Dawn'" in text and "Traceback" not in text


def test_without_mitsuba_says_how_to_install(monkeypatch, tmp_path, cli):
    monkeypatch.setitem(sys.modules, "mitsuba", None)      # `import mitsuba` now raises ImportError
    code, text = cli(["render", "--out", str(tmp_path / "r"), "--views", "1"])
    assert code == 2 and "pip install 'harmony-toolkit[render]'" in text
    with pytest.raises(InputError, match="harmony-toolkit\\[render\\]"):
        R.load_mitsuba()


@needs_mitsuba
def test_default_sample_is_rendered_with_mitsuba(tmp_path, cli):
    code, text = cli(["datagen", "rendered", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 0, text
    assert "rendered with Mitsuba 3" in text
    assert len((tmp_path / "o" / "labels.txt").read_text().splitlines()) == 3 * 90
