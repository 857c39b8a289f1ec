"""Loader conformance: the field's published loaders find every file of every generator's output.

The path rules below are written from the loaders' documented behaviour (the official iHarmony4 release's
layout and the loaders' descriptions), not copied from their code:

- SamsungLabs iharm ``HDataset(dataset_path=<root>/<Sub>, split)``: the split list is the one ``*.txt``
  directly in the subset folder whose stem ends with the split (exactly one, asserted); each line is a bare
  composite name; composite ``composite_images/<name>``, mask ``masks/<'_'.join(name.split('_')[:-1])>.png``,
  real ``real_images/<name.split('_')[0]>.jpg`` (so image ids contain no ``_``).
- DoveNet ``Iharmony4Dataset``: ``<root>/IHD_<split>.txt``, each line joined to the root; mask = the path
  with ``composite_images`` -> ``masks`` and the last ``_<k>`` -> ``.png``; real = ``composite_images`` ->
  ``real_images`` and the last ``_<fg>_<k>`` -> ``.jpg``. Every line must have its real image.
- iHarmony4's official ``evaluation.py``: reads ``IHD_test.txt``, splits the path on ``_`` and derives mask
  and real by *string replacement* of ``_<k>`` / ``_<fg>_<k>`` (Python ``str.replace``: every occurrence),
  and keys harmonized results by the composite's file name (a flat folder).
- PCT-Net's evaluation (built on iharm's datasets): one per-image CSV row ``Name,...,height,width,
  mask_area`` per test composite, keyed by the composite file name; names must therefore be unique over
  the whole test set and composite, mask and real must have one size.

Applied to the output of every registered generator (each in its own root) and to a combined root built
as ``make demo`` builds it. Then ``harmony bench --split test`` must score exactly the test images and
``harmony check`` must pass on the official layout and refuse the old one.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

import harmony.datagen  # noqa: F401 - registers the generators
from harmony import io as hio
from harmony.registry import GENERATORS

from .conftest import generate_sample as _generate
from .conftest import run_cli

DEMO_ORDER = ["coco", "fivek", "day2night", "retouched", "flickr", "real", "rendered"]
SPLITS = ("train", "test")


@pytest.fixture(scope="module")
def combined(tmp_path_factory) -> Path:
    """Every generator into one root, in the demo's order (the dataset ``make demo`` builds)."""
    root = tmp_path_factory.mktemp("combined")
    for name in DEMO_ORDER:
        _generate(root, name)
    return root


# --- the loaders' path rules ---------------------------------------------------------------------------

def subset_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "composite_images").is_dir())


def iharm_split_file(subset_dir: Path, split: str) -> Path:
    """iharm HDataset: the one ``*.txt`` directly in the subset folder whose stem ends with the split."""
    found = [p for p in subset_dir.glob("*.txt") if p.stem.endswith(split)]
    assert len(found) == 1, f"{subset_dir}: iharm expects exactly one *{split}.txt, found {found}"
    return found[0]


def iharm_paths(subset_dir: Path, name: str) -> tuple[Path, Path, Path]:
    parts = name.split("_")
    return (subset_dir / "composite_images" / name,
            subset_dir / "masks" / ("_".join(parts[:-1]) + ".png"),
            subset_dir / "real_images" / (parts[0] + ".jpg"))


def dovenet_paths(root: Path, line: str) -> tuple[Path, Path, Path]:
    """DoveNet Iharmony4Dataset: mask drops the last ``_<k>``, real drops the last ``_<fg>_<k>``."""
    head1, _k = line.rsplit("_", 1)
    head2, _fg, _k2 = line.rsplit("_", 2)
    mask = head1.replace("composite_images", "masks") + ".png"
    real = head2.replace("composite_images", "real_images") + ".jpg"
    return root / line, root / mask, root / real


def official_eval_paths(root: Path, line: str) -> tuple[Path, Path, Path]:
    """iHarmony4 evaluation.py: split the path on ``_``; ``str.replace`` of ``_<k>`` / ``_<fg>_<k>``."""
    parts = line.split("_")
    mask = line.replace("composite_images", "masks").replace("_" + parts[-1], ".png")
    real = line.replace("composite_images", "real_images").replace("_" + parts[-2] + "_" + parts[-1], ".jpg")
    return root / line, root / mask, root / real


def read_lines(path: Path) -> list[str]:
    return [x.strip() for x in path.read_text().splitlines() if x.strip()]


def manifest(subset_dir: Path) -> dict[str, dict]:
    with open(subset_dir / "manifest.csv", newline="", encoding="utf-8") as fh:
        return {Path(r["composite"]).name: r for r in csv.DictReader(fh)}


def check_loaders(root: Path) -> dict[str, int]:
    """Apply every loader's rules to ``root``; return the number of listed composites per split."""
    counts = {s: 0 for s in SPLITS}
    subsets = subset_dirs(root)
    assert subsets, f"{root}: no subset"
    paired = {d.name: (d / "real_images").is_dir() for d in subsets}
    expected_root: dict[tuple[bool, str], list[str]] = {(p, s): [] for p in (True, False) for s in SPLITS}
    for d in subsets:
        man = manifest(d)
        listed = []
        for split in SPLITS:
            names = read_lines(iharm_split_file(d, split))
            assert all("/" not in n for n in names), f"{d}: iharm split lines are bare file names"
            counts[split] += len(names)
            listed += names
            expected_root[(paired[d.name], split)] += [f"{d.name}/composite_images/{n}" for n in names]
            for n in names:
                comp, mask, real = iharm_paths(d, n)
                assert len(n.split("_")) == 3, f"{n}: iharm needs <imageId>_<fgId>_<k> with no '_' in the ids"
                assert comp.is_file(), comp
                assert mask.is_file(), mask
                # The derived files are the right ones, not merely existing ones (manifest provenance).
                assert man[n]["mask"] == f"masks/{mask.name}", (n, man[n]["mask"])
                if paired[d.name]:
                    assert real.is_file(), real
                    assert man[n]["real"] == f"real_images/{real.name}", (n, man[n]["real"])
        assert sorted(listed) == sorted(man), f"{d}: the split files list every composite of the manifest once"
        assert not (root / f"{d.name}_train.txt").exists() and not (root / f"{d.name}_test.txt").exists()
    test_names = []
    for split in SPLITS:
        ihd = read_lines(root / f"IHD_{split}.txt")
        assert ihd == expected_root[(True, split)], f"IHD_{split}.txt lists the paired subsets' split files"
        for line in ihd:
            assert paired[line.split("/")[0]], f"IHD_{split}.txt lists unpaired {line}"
            for rule in (dovenet_paths, official_eval_paths) if split == "test" else (dovenet_paths,):
                comp, mask, real = rule(root, line)
                assert comp.is_file() and mask.is_file() and real.is_file(), (rule.__name__, line)
        unpaired = root / f"unpaired_{split}.txt"
        if all(paired.values()):
            assert not unpaired.exists()
        else:
            assert read_lines(unpaired) == expected_root[(False, split)]
            for line in read_lines(unpaired):
                comp, mask, _ = dovenet_paths(root, line)
                assert comp.is_file() and mask.is_file(), line
    # evaluation.py and PCT-Net key results by composite file name: unique over the whole test set, and
    # composite, mask and real have one size (PCT-Net's CSV records height, width, mask_area).
    for d in subsets:
        for n in read_lines(d / f"{d.name}_test.txt"):
            test_names.append(n)
            comp, mask, real = iharm_paths(d, n)
            size = hio.image_size(comp)
            assert hio.image_size(mask) == size, n
            if paired[d.name]:
                assert hio.image_size(real) == size, n
    assert len(test_names) == len(set(test_names)), "composite names repeat across subsets"
    return counts


@pytest.mark.parametrize("name", GENERATORS.names())
def test_every_generator_loads_in_the_published_loaders(generated, name):
    root = generated(name)
    counts = check_loaders(root)
    assert counts["train"] + counts["test"] > 0
    code, text = run_cli(["check", str(root), "--fast"])
    assert code == 0 and "OK" in text, text


def test_combined_demo_dataset_loads_in_the_published_loaders(combined):
    counts = check_loaders(combined)
    assert counts["test"] > 0 and counts["train"] > 0
    ihd = read_lines(combined / "IHD_test.txt") + read_lines(combined / "IHD_train.txt")
    unpaired = read_lines(combined / "unpaired_test.txt") + read_lines(combined / "unpaired_train.txt")
    assert unpaired and all(x.startswith("HRealComposite/") for x in unpaired)
    assert not any(x.startswith("HRealComposite/") for x in ihd)
    code, text = run_cli(["check", str(combined)])
    assert code == 0 and "OK" in text, text


def test_bench_split_test_scores_exactly_the_test_images(combined, tmp_path):
    paired = [d.name for d in subset_dirs(combined) if (d / "real_images").is_dir()]
    out = tmp_path / "bench"
    code, text = run_cli(["bench", "--data", str(combined), "--subsets", ",".join(paired), "--models", "cut-and-paste",
                          "--split", "test", "--out", str(out), "--workers", "0", "--gallery", "0", "--no-plots"])
    assert code == 0, text
    with open(out / "per_image.csv", newline="") as fh:
        scored = sorted(f"{r['subset']}/composite_images/{r['composite']}" for r in csv.DictReader(fh))
    assert scored == sorted(read_lines(combined / "IHD_test.txt"))


def _copy_subset(src_root: Path, dst_root: Path, sub: str) -> Path:
    shutil.copytree(src_root / sub, dst_root / sub)
    return dst_root / sub


def test_check_refuses_the_old_layout_naming_the_file(generated, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    src = generated("coco")
    sub = _copy_subset(src, root, "HCOCO")
    for split in SPLITS:   # where harmony used to write them: at the dataset root
        inside = sub / f"HCOCO_{split}.txt"
        shutil.copy(inside if inside.is_file() else src / f"HCOCO_{split}.txt", root / f"HCOCO_{split}.txt")
        inside.unlink(missing_ok=True)
    code, text = run_cli(["check", str(root)])
    lines = [x for x in text.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1, text
    assert str(root / "HCOCO_train.txt") in lines[0] and "move" in lines[0] and "HCOCO/HCOCO_train.txt" in lines[0]
    # bench refuses it too, before writing anything
    code, text = run_cli(["bench", "--data", str(root), "--models", "cut-and-paste", "--out", str(tmp_path / "b")])
    assert code == 2 and "HCOCO_train.txt" in text and not (tmp_path / "b").exists()


def test_official_layout_is_read_and_a_subset_without_splits_is_refused(generated, tmp_path):
    """An official-release style root (split files only inside the subset folders): check and bench
    use them; with a subset's split files removed, ``bench --split test`` refuses before any work."""
    root = tmp_path / "data"
    root.mkdir()
    src = generated("fivek")
    sub = _copy_subset(src, root, "HAdobe5k")
    for split in SPLITS:
        # Whatever harmony wrote, lay it out as the official release does.
        old = src / f"HAdobe5k_{split}.txt"
        if old.is_file():
            shutil.copy(old, sub / f"HAdobe5k_{split}.txt")
        shutil.copy(src / f"IHD_{split}.txt", root / f"IHD_{split}.txt")
    test = read_lines(sub / "HAdobe5k_test.txt")
    train = read_lines(sub / "HAdobe5k_train.txt")
    assert test and train
    code, text = run_cli(["check", str(root)])
    assert code == 0 and "no split files" not in text and f"{len(test) + len(train)} composites checked" in text, text
    out = tmp_path / "bench"
    code, text = run_cli(["bench", "--data", str(root), "--models", "cut-and-paste", "--out", str(out), "--workers", "0",
                          "--gallery", "0", "--no-plots"])
    assert code == 0, text
    with open(out / "per_image.csv", newline="") as fh:
        assert sorted(r["composite"] for r in csv.DictReader(fh)) == sorted(test)
    # No split information: refused before any work, naming the subset; --split all scores everything.
    for split in SPLITS:
        (sub / f"HAdobe5k_{split}.txt").unlink()
    out2 = tmp_path / "bench2"
    code, text = run_cli(["bench", "--data", str(root), "--models", "cut-and-paste", "--out", str(out2)])
    assert code == 2 and "HAdobe5k" in text and "--split all" in text, text
    assert not out2.exists()
    code, text = run_cli(["bench", "--data", str(root), "--models", "cut-and-paste", "--split", "all", "--out", str(out2),
                          "--workers", "0", "--gallery", "0", "--no-plots"])
    assert code == 0, text
    with open(out2 / "per_image.csv", newline="") as fh:
        assert sorted(r["composite"] for r in csv.DictReader(fh)) == sorted(test + train)
