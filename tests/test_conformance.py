"""One conformance suite: every registered method, generator, metric and protocol meets its kind's contract.

Every test here is parametrised over the registries of :mod:`harmony.registry` (``METHODS``,
``GENERATORS``, ``METRICS``, ``PROTOCOLS``), so a new registration is checked without a new test:

- **cards** (every kind): name and kind match the registration, a one-line summary and a citation, JSON
  round trip (``harmony list --json``); learned methods name a ``*_tiny`` preset and a native size;
  metrics say which direction is better.
- **methods** (the Harmonizer contract): ``harmonize(composite, mask) -> image`` keeps shape, float32
  and [0, 1]; leaves its input alone; leaves the background bit-exact where the card says
  ``keeps_background``; gives the same output twice where it says ``deterministic``; refuses bad input
  with a ``ValueError`` (the project's :class:`~harmony.errors.InputError` is one) naming the argument.
  Learned methods run an untrained ``*_tiny`` checkpoint written here (the contract is about shapes and
  pasting, not about quality), and refuse without weights, naming ``harmony train``.
- **generators**: the sample-data run (shared with tests/test_loader_conformance.py through the
  session fixture ``generated``) writes the iHarmony4 layout that :class:`harmony.dataset.DatasetReader`
  reads and validates: split files in every subset folder and at the root, names
  ``<prefix><imageId>_<fgId>_<k>.<ext>`` with the subset's prefix, the mask and real image the name rule
  derives, the float32 loading contract, and a manifest recording the tool version. The card names the
  subset, prefix and inputs; an empty input folder is refused in one line (exit code 2) before anything
  is written; ``harmony datagen NAME --help`` has examples.
- **metrics**: identity gives the ideal value, symmetric ones are symmetric, a worse prediction scores
  worse in the card's direction, and a tiny case equals the formula written here in numpy.
- **protocols**: every choice field holds an allowed value and an unknown one is refused naming the field;
  scores follow the protocol's declared rules (numpy, from the fields); unknown protocol names are refused
  listing the valid ones.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import harmony
from harmony import dataset as ds
from harmony.errors import InputError, MissingWeightsError
from harmony.registry import GENERATORS, METHODS, METRICS, PROTOCOLS, Card

from .conftest import UNAVAILABLE_CITATION, run_cli, ssim_map_reference, write_random_lpips_weights

REGISTRIES = {"method": METHODS, "generator": GENERATORS, "metric": METRICS, "protocol": PROTOCOLS}
ITEMS = [(kind, name) for kind, registry in REGISTRIES.items() for name in registry.names()]
ITEM_IDS = [f"{kind}:{name}" for kind, name in ITEMS]

# Registrations whose card still cites files users do not have (the papers' local seed-file ids, internal
# notes): issue #16 item 5 replaces these citations. Remove a name once its card is fixed; the check is strict for the rest.
CITATION_GAPS: set[tuple[str, str]] = set()
# Generators whose card does not yet say which subset and prefix they write and which inputs they read
# (issue #16 item 1: one template). Remove a name once its card is complete.
CARD_GAPS: set[str] = set()


def _xfail_if(request, known: bool, reason: str) -> None:
    if known:
        request.applymarker(pytest.mark.xfail(strict=False, reason=reason))


# --- cards (every kind) ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,name", ITEMS, ids=ITEM_IDS)
def test_card_is_complete(kind, name):
    card = REGISTRIES[kind].card(name)
    assert card.name == name and card.kind == kind
    assert card.summary.strip() and "\n" not in card.summary, "one line for `harmony list`"
    assert card.paper.strip(), "cite the paper, the public script or the format followed"
    # `harmony list --json` writes as_dict(): every field, JSON types only
    as_json = json.loads(json.dumps(card.as_dict()))
    assert set(as_json) == {f.name for f in dataclasses.fields(Card)}
    assert as_json["name"] == name and as_json["inputs"] == list(card.inputs)
    if kind == "method" and card.learned:
        assert any(p.endswith("_tiny") for p in card.presets), "a learned method registers a *_tiny preset"
        assert isinstance(card.native_size, int) and card.native_size > 0
    if kind == "method" and card.low_res_only:
        assert card.native_size, "a low-resolution-only method says at which size it runs"
    if kind == "metric":
        assert card.higher_is_better in (True, False)
        assert card.unit in ("", "dB")


@pytest.mark.parametrize("kind,name", ITEMS, ids=ITEM_IDS)
def test_card_cites_only_what_users_have(request, kind, name):
    _xfail_if(request, (kind, name) in CITATION_GAPS, "card cites files users do not have (issue #16 item 5)")
    card = REGISTRIES[kind].card(name)
    for field in ("summary", "paper", "notes"):
        found = UNAVAILABLE_CITATION.search(getattr(card, field))
        assert found is None, f"{kind} {name}: card.{field} cites {found.group(0)!r}, which users do not have"


# --- methods ---------------------------------------------------------------------------------------------

def _scene(rng, h=48, w=64, variant="hard"):
    """A composite (smooth background, textured foreground of another colour) and its mask.

    ``variant``: ``hard`` (binary rectangle), ``soft`` (a 0.4 ring around it), ``border`` (touching two
    image borders).
    """
    from harmony.imageops import dilate

    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    bg = np.stack([0.35 + 0.2 * yy, 0.45 + 0.1 * xx, 0.55 - 0.15 * yy], axis=-1) + rng.normal(0, 0.02, (h, w, 3))
    fg = np.array([0.75, 0.4, 0.25]) + rng.normal(0, 0.06, (h, w, 3))
    mask = np.zeros((h, w), np.float32)
    if variant == "border":
        mask[:h // 2, :w // 2] = 1.0
    else:
        mask[h // 4:3 * h // 4, w // 4:3 * w // 4] = 1.0
    if variant == "soft":
        mask[(dilate(mask, 1) > 0) & (mask == 0)] = 0.4
    m = mask[..., None]
    return np.clip(fg * m + bg * (1 - m), 0, 1).astype(np.float32), mask


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """``checkpoints(name)``: a folder with an untrained checkpoint of the method's ``*_tiny`` preset."""
    root = tmp_path_factory.mktemp("ckpt")

    def get(name: str) -> Path:
        folder = root / name
        if not (folder / "config.json").is_file():
            torch = pytest.importorskip("torch")
            from harmony.models.checkpoint import save_checkpoint
            from harmony.models.presets import create_model

            preset = next(p for p in METHODS.card(name).presets if p.endswith("_tiny"))
            torch.manual_seed(0)
            save_checkpoint(folder, create_model(preset).eval(), preset=preset, step=0, git="")
        return folder

    return get


@pytest.fixture
def make_method(checkpoints, one_torch_thread):
    """``make_method(name, **options)``: a fresh Harmonizer (learned ones from their tiny checkpoint)."""

    def make(name: str, **options):
        if METHODS.card(name).learned:
            options.setdefault("weights", str(checkpoints(name)))
        return METHODS.create(name, **options)

    return make


@pytest.mark.parametrize("name", METHODS.names())
@pytest.mark.parametrize("variant", ["hard", "soft", "border"])
def test_method_output_contract(name, variant, make_method, rng):
    card = METHODS.card(name)
    comp, mask = _scene(rng, variant=variant)
    before, mask_before = comp.copy(), mask.copy()
    out = make_method(name)(comp, mask)
    assert out.shape == comp.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    assert np.array_equal(comp, before) and np.array_equal(mask, mask_before), "the inputs must not be modified"
    if card.keeps_background:
        assert np.array_equal(out[mask == 0], comp[mask == 0]), "card says keeps_background"
    if card.deterministic:
        assert np.array_equal(out, make_method(name)(comp, mask)), "card says deterministic"


@pytest.mark.parametrize("name", METHODS.names())
def test_method_refuses_bad_input_naming_the_argument(name, make_method, rng):
    comp, mask = _scene(rng)
    harmonize = make_method(name)
    with pytest.raises(ValueError, match="composite"):
        harmonize((comp * 255).astype(np.uint8), mask)
    with pytest.raises(ValueError, match="mask"):
        harmonize(comp, mask[:-1])
    with pytest.raises(ValueError, match="mask"):
        harmonize(comp, mask * 2.0)
    with pytest.raises(ValueError) as exc:
        make_method(name, no_such_option=1)
    assert "no_such_option" in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("name", METHODS.names())
def test_method_empty_and_full_masks(name, make_method, rng):
    """Nothing to harmonize (empty mask): the composite unchanged, or a refusal saying so. No background
    (full mask): still a valid image."""
    card = METHODS.card(name)
    comp, mask = _scene(rng)
    harmonize = make_method(name)
    try:
        out = harmonize(comp, np.zeros_like(mask))
    except ValueError as exc:
        assert "mask" in str(exc)
    else:
        assert out.shape == comp.shape and out.dtype == np.float32
        if card.keeps_background:
            assert np.array_equal(out, comp)
    out = harmonize(comp, np.ones_like(mask))
    assert out.shape == comp.shape and out.dtype == np.float32 and 0.0 <= out.min() and out.max() <= 1.0


@pytest.mark.parametrize("name", [n for n in METHODS.names() if METHODS.card(n).learned])
def test_learned_method_without_weights_says_how_to_train(name, tmp_path):
    with pytest.raises(MissingWeightsError) as exc:
        METHODS.create(name, weights=str(tmp_path))
    assert f"harmony train {name}" in str(exc.value)
    assert issubclass(MissingWeightsError, InputError)


# --- generators ------------------------------------------------------------------------------------------

def _lines(path: Path) -> list[str]:
    return [x.strip() for x in path.read_text().splitlines() if x.strip()]


@pytest.mark.parametrize("name", GENERATORS.names())
def test_generator_card_names_its_subset_prefix_and_inputs(request, name):
    _xfail_if(request, name in CARD_GAPS, "card lacks subset/prefix/inputs (issue #16 item 1)")
    card = GENERATORS.card(name)
    assert card.extra.get("subset") in ds.SUBSETS, "card.extra['subset']: one of harmony.dataset.SUBSETS"
    assert card.extra.get("prefix") == ds.SUBSETS[card.extra["subset"]]
    assert card.inputs, "card.inputs: the user's data the generator reads (without them: the sample data)"


@pytest.mark.parametrize("name", [n for n in GENERATORS.names() if GENERATORS.card(n).inputs])
def test_generator_refuses_an_empty_input_folder_in_one_line(name, tmp_path):
    """The first input the card names, pointed at an empty folder: exit 2, one line, nothing written."""
    option = "--" + GENERATORS.card(name).inputs[0].split("|")[0].replace("_", "-")
    (tmp_path / "empty").mkdir()
    code, text = run_cli(["datagen", name, "--out", str(tmp_path / "out"), option, str(tmp_path / "empty"),
                          "--workers", "0"])
    assert code == 2 and text.startswith("Error: ") and len(text.strip().splitlines()) == 1, text
    assert "Traceback" not in text and not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", GENERATORS.names())
def test_generator_writes_a_layout_the_reader_loads(generated, name):
    root = generated(name)
    extra = GENERATORS.card(name).extra
    reader = ds.DatasetReader(root)
    assert [str(p) for p in reader.validate() if p.severity == "error"] == []
    if extra.get("subset"):
        assert reader.subsets == [extra["subset"]]
    for sub in reader.subsets:
        assert sub in ds.SUBSETS, f"{sub}: not a subset of harmony.dataset.SUBSETS"
        folder = root / sub
        on_disk = sorted(p.name for p in (folder / ds.COMPOSITE_DIR).iterdir())
        listed = {split: _lines(ds.subset_split_file(root, sub, split)) for split in ds.SPLITS}
        assert not set(listed["train"]) & set(listed["test"]), "a composite in both splits"
        assert sorted(listed["train"] + listed["test"]) == on_disk, "split files list every composite once"
        paired = reader.has_real(sub)
        for split in ds.SPLITS:
            root_list = _lines(ds.root_split_file(root, split, paired=paired))
            assert sorted(x for x in root_list if x.startswith(f"{sub}/")) == sorted(
                f"{sub}/{ds.COMPOSITE_DIR}/{n}" for n in listed[split])
        rule = re.compile(rf"{re.escape(ds.SUBSETS[sub])}[^_/]+_[^_/]+_[^_/.]+\.(jpg|png)")
        for n in on_disk:
            assert rule.fullmatch(n), f"{sub}/{n}: not <prefix><imageId>_<fgId>_<k>.<ext>"
            mask_name, real_name = ds.derive_mask_and_real(n)
            assert (folder / ds.MASK_DIR / mask_name).is_file(), n
            assert (folder / ds.REAL_DIR / real_name).is_file() == paired, n
        rows = reader.manifest(sub)
        assert sorted(rows) == on_disk
        assert {r["tool_version"] for r in rows.values()} == {harmony.__version__}
        assert {r["split"] for r in rows.values()} <= set(ds.SPLITS)
        assert json.loads((folder / "run.json").read_text())["tool_version"] == harmony.__version__
        sample = reader.samples(subsets=[sub])[0]
        comp, mask, real = reader.load(sample)
        assert comp.dtype == np.float32 and comp.ndim == 3 and comp.shape[2] == 3
        assert 0.0 <= comp.min() and comp.max() <= 1.0
        assert mask.dtype == np.float32 and mask.shape == comp.shape[:2] and 0.0 <= mask.min() <= mask.max() <= 1.0
        assert (real is None) == (not paired)
        if real is not None:
            assert real.shape == comp.shape and real.dtype == np.float32


@pytest.mark.parametrize("name", GENERATORS.names())
def test_generator_command_has_help_with_examples(name):
    code, text = run_cli(["datagen", name, "--help"])
    assert code == 0 and "Examples" in text, text


# --- metrics ---------------------------------------------------------------------------------------------
#
# Each metric's calling convention, ideal value, symmetry and an independent numpy formula. A metric
# registered without a row here fails test_metric_has_a_contract: add its row.

def _np_mse(p, g, m):
    return float(np.mean((p - g) ** 2))


def _np_fmse(p, g, m):
    return float(np.sum(m[..., None] * (p - g) ** 2) / (3.0 * m.sum()))


def _np_ssim_map(p, g):
    return ssim_map_reference(p, g, 7, 1.5, "same", float(p.max() - p.min()))   # CDTNet: R from the prediction


def _enlarged(image, k=6):
    return np.repeat(np.repeat(image, k, axis=0), k, axis=1).astype(np.float32)


METRIC_CONTRACTS = {
    "mse": dict(image_pair=True, call=lambda f, p, g, m: f(p, g), ideal=0.0, symmetric=True, reference=_np_mse),
    "fmse": dict(image_pair=True, call=lambda f, p, g, m: f(p, g, m), ideal=0.0, symmetric=True, reference=_np_fmse),
    "psnr": dict(call=lambda f, p, g, m: f(_np_mse(p, g, m), 255.0), ideal=math.inf, symmetric=True,
                 reference=lambda p, g, m: 10 * math.log10(255.0 ** 2 / _np_mse(p, g, m))),
    "fpsnr": dict(call=lambda f, p, g, m: f(_np_fmse(p, g, m), 255.0), ideal=math.inf, symmetric=True,
                  reference=lambda p, g, m: 10 * math.log10(255.0 ** 2 / _np_fmse(p, g, m))),
    # SSIM's data range comes from the prediction (CDTNet), so swapping the arguments changes it
    "ssim": dict(image_pair=True, call=lambda f, p, g, m: f(p, g, m)[0], ideal=1.0, symmetric=False,
                 reference=lambda p, g, m: float(_np_ssim_map(p, g).mean())),
    "fssim": dict(image_pair=True, call=lambda f, p, g, m: f(p, g, m)[1], ideal=1.0, symmetric=False,
                  reference=lambda p, g, m: float(np.mean([(_np_ssim_map(p, g)[..., c] * m).sum() / m.sum()
                                                           for c in range(3)]))),
    "bg_drift": dict(image_pair=True, call=lambda f, p, g, m: f(p, g, m), ideal=0.0, symmetric=True,
                     reference=lambda p, g, m: float(np.sum((1 - m)[..., None] * (p - g) ** 2) / (3 * (1 - m).sum()))),
    # LPIPS on random weights, the tiny case enlarged 6x for AlexNet's strides (its reference forward is
    # in tests/test_metrics.py)
    "lpips": dict(call=lambda f, p, g, m: f(_enlarged(p / 255), _enlarged(g / 255)), ideal=0.0, symmetric=True,
                  reference=None),
}


def _tiny_case(seed=0, noise=20.0, h=12, w=10):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 256, (h, w, 3)).astype(np.float64)
    pred = np.clip(gt + rng.normal(0, noise, gt.shape), 0, 255)
    mask = np.zeros((h, w))
    mask[3:8, 2:7] = 1.0
    mask[8, 2:7] = 0.5
    return pred, gt, mask


@pytest.fixture
def metric(tmp_path, monkeypatch):
    """``metric(name) -> callable``: the registered metric (LPIPS on random local weights)."""

    def get(name):
        if name == "lpips":
            pytest.importorskip("torch")
            write_random_lpips_weights(tmp_path)
            monkeypatch.setenv("HARMONY_LPIPS_WEIGHTS", str(tmp_path))
        return METRICS.create(name)

    return get


@pytest.mark.parametrize("name", METRICS.names())
def test_metric_has_a_contract(name):
    assert name in METRIC_CONTRACTS, f"metric {name!r}: add its row (call, ideal, symmetric, reference)"


@pytest.mark.parametrize("name", sorted(set(METRICS.names()) & set(METRIC_CONTRACTS)))
def test_metric_identity_symmetry_direction_and_reference(name, metric):
    row, card = METRIC_CONTRACTS[name], METRICS.card(name)
    score = lambda p, g, m: row["call"](metric(name), p, g, m)  # noqa: E731
    pred, gt, mask = _tiny_case()
    assert score(gt, gt, mask) == pytest.approx(row["ideal"], abs=1e-7)
    value = score(pred, gt, mask)
    if row["symmetric"]:
        assert score(gt, pred, mask) == pytest.approx(value, rel=1e-9, abs=1e-9)
    if row["reference"] is not None:
        assert value == pytest.approx(row["reference"](pred, gt, mask), rel=1e-6, abs=1e-9)
    # a worse prediction (the same noise, three times larger) scores worse in the card's direction
    worse = np.clip(gt + 3 * (pred - gt), 0, 255)
    better_first = (value, score(worse, gt, mask)) if card.higher_is_better else (score(worse, gt, mask), value)
    assert better_first[0] > better_first[1]


@pytest.mark.parametrize("name", [n for n, row in METRIC_CONTRACTS.items() if row.get("image_pair")])
def test_image_metric_refuses_mismatched_shapes(name):
    pred, gt, mask = _tiny_case()
    with pytest.raises(ValueError):
        METRIC_CONTRACTS[name]["call"](METRICS.create(name), pred, gt[:-1], mask)


# --- protocols -------------------------------------------------------------------------------------------

def _declared_scores(proto, pred, gt, mask) -> dict[str, float]:
    """MSE, PSNR, fMSE, fPSNR from the protocol's declared fields, in float64 numpy."""
    p, g, m = pred.astype(np.float64), gt.astype(np.float64), mask.astype(np.float64)
    if proto.paste_background:
        p = m[..., None] * p + (1 - m[..., None]) * g
    d2 = (p - g) ** 2
    n, area = d2.size, m.sum()
    mse = float(np.sum(m[..., None] * d2) / n) if proto.mse == "masked" else float(d2.sum() / n)
    if proto.fmse == "hdnet":
        fmse = float(d2.sum() / n * m.size / area)
    else:
        fmse = float(np.sum(m[..., None] * d2) / (3 * area + proto.fmse_eps))
    peak = {"gt_max": g.max(), "pred_range": p.max() - p.min(), "255": 255.0}[proto.psnr_peak]
    psnr = lambda e: 10 * math.log10(peak ** 2 / (e + proto.psnr_eps))  # noqa: E731
    return {"mse": mse, "psnr": psnr(mse), "fmse": fmse, "fpsnr": psnr(fmse)}


@pytest.mark.parametrize("name", PROTOCOLS.names())
def test_protocol_validates_every_choice(name):
    from harmony.benchmark.metrics import PROTOCOL_CHOICES

    proto = PROTOCOLS.create(name)
    assert proto.name == name and PROTOCOLS.card(name).notes == proto.explain()
    for field, allowed in PROTOCOL_CHOICES.items():
        assert getattr(proto, field) in allowed, field
        for value in allowed:
            assert getattr(dataclasses.replace(proto, **{field: value}), field) == value
        with pytest.raises(InputError) as exc:
            dataclasses.replace(proto, **{field: "no-such-choice"})
        message = str(exc.value)
        assert field in message and "'no-such-choice'" in message and all(a in message for a in allowed)
    for field, bad in (("psnr_eps", -1.0), ("fmse_eps", math.nan), ("default_size", 0)):
        with pytest.raises(InputError, match=field):
            dataclasses.replace(proto, **{field: bad})


@pytest.mark.parametrize("name", PROTOCOLS.names())
def test_protocol_scores_follow_its_declared_rules(name):
    proto = PROTOCOLS.create(name)
    pred, gt, mask = _tiny_case(seed=3)
    got = proto.score_basic(pred, gt, mask)
    for key, want in _declared_scores(proto, pred, gt, mask).items():
        assert got[key] == pytest.approx(want, rel=1e-9), key
    ideal = proto.score_basic(gt, gt, mask)
    assert ideal["mse"] == 0.0 and ideal["fmse"] == 0.0
    assert ideal["psnr"] > 100 or ideal["psnr"] == math.inf
    empty = proto.score_basic(pred, gt, np.zeros_like(mask))
    assert math.isnan(empty["fmse"]) and math.isnan(empty["fpsnr"]), "an empty mask leaves fMSE undefined"


@pytest.mark.parametrize("name", PROTOCOLS.names())
def test_protocol_prepares_the_float_contract(name):
    proto = PROTOCOLS.create(name)
    rng = np.random.default_rng(5)
    comp = rng.integers(0, 256, (20, 24, 3)).astype(np.uint8)
    real = rng.integers(0, 256, (20, 24, 3)).astype(np.uint8)
    mask = np.zeros((20, 24), np.float32)
    mask[5:15, 6:18] = 1.0
    for size, shape in ((16, (16, 16)), ("full", (20, 24))):
        prepared = proto.prepare(comp, mask, real, size)
        assert prepared.composite.shape == (*shape, 3) and prepared.composite.dtype == np.float32
        assert 0.0 <= prepared.composite.min() and prepared.composite.max() <= 1.0
        assert prepared.mask.shape == shape and 0.0 <= prepared.mask.min() and prepared.mask.max() <= 1.0
        assert prepared.real.shape == (*shape, 3) and prepared.real.max() <= 255.0


def test_unknown_protocol_is_refused_listing_the_valid_names():
    from harmony.benchmark.metrics import get_protocol

    for lookup in (PROTOCOLS.create, get_protocol):
        with pytest.raises(InputError) as exc:
            lookup("no-such-protocol")
        assert "no-such-protocol" in str(exc.value)
        assert all(name in str(exc.value) for name in PROTOCOLS.names())
