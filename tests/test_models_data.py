"""Tiny iHarmony4-layout datasets for the model tests (built with DatasetWriter) + data-loading tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harmony import io as hio
from harmony.dataset import DatasetWriter, composite_name, mask_name, real_name


def _scene(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random 'photo': a colour gradient plus a few soft blobs and a little texture."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = rng.uniform(0.2, 0.8, 3)
    slope = rng.uniform(-0.3, 0.3, (2, 3))
    img = base + yy[..., None] * slope[0] + xx[..., None] * slope[1]
    for _ in range(3):
        cy, cx, r = rng.uniform(0, 1, 2).tolist() + [rng.uniform(0.1, 0.3)]
        blob = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)))
        img = img + blob[..., None] * rng.uniform(-0.25, 0.25, 3)
    img = img + rng.normal(0, 0.02, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def make_dataset(root: Path, *, n_train: int = 8, n_test: int = 4, size: int = 48, seed: int = 0,
                 labels: bool = False) -> Path:
    """A HCOCO-like subset: each real image gets an elliptic foreground whose colours were shifted
    (per-channel gain and offset), the composite; masks binary. With ``labels`` a ``labels/`` folder
    holds per-image class maps (0 = background, 1 = foreground object, 2 = top band)."""
    rng = np.random.default_rng(seed)
    writer = DatasetWriter(root, "HCOCO", config={"test": "models", "seed": seed}, command="test")
    layout = writer.layout
    if labels:
        (layout.dir / "labels").mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for i in range(n_train + n_test):
        real = _scene(rng, size)
        cy, cx = rng.uniform(0.35, 0.65, 2) * size
        ry, rx = rng.uniform(0.15, 0.3, 2) * size
        mask = ((((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) <= 1.0).astype(np.float32)
        gain = rng.uniform(0.6, 1.4, 3).astype(np.float32)
        offset = rng.uniform(-0.15, 0.15, 3).astype(np.float32)
        comp = real.copy()
        comp[mask > 0.5] = np.clip(real[mask > 0.5] * gain + offset, 0, 1)
        image_id, fg_id = 1000 + i, 7
        cname, mname, rname = composite_name("c", image_id, fg_id, 1), mask_name("c", image_id, fg_id), real_name("c", image_id)
        layout.write_composite(cname, comp, quality=100)
        layout.write_mask(mname, mask)
        layout.write_real(rname, real, quality=100)
        if labels:
            lab = np.zeros((size, size), np.uint8)
            lab[mask > 0.5] = 1
            lab[: size // 6] = 2
            hio.atomic_write_bytes(layout.dir / "labels" / f"c{image_id}.png", hio.encode_image(
                np.repeat(lab[..., None], 3, axis=2).astype(np.float32) / 255.0, ".png"))
        split = "train" if i < n_train else "test"
        layout.write_unit(f"u{i}", {"rows": [{"composite": cname, "mask": f"masks/{mname}",
                                              "real": f"real_images/{rname}", "split": split, "subset": "HCOCO"}]})
    writer.finalize()
    return root


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("models_data") / "data")


def test_load_split_resizes_and_binarises(tiny_data):
    from harmony.models.train import load_split

    data = load_split(tiny_data, "train", 32)
    assert len(data) == 8
    assert data.composite.shape == (8, 32, 32, 3) and data.real.shape == (8, 32, 32, 3)
    assert set(np.unique(data.mask)) <= {0.0, 1.0}
    # the composite differs from the real image inside the mask only
    diff = np.abs(data.composite - data.real).max(axis=3)
    assert diff[data.mask == 0].mean() < 0.02 < diff[data.mask == 1].mean()
    assert data.labels is None and data.num_classes == 0
    assert len(load_split(tiny_data, "test", 32)) == 4


def test_batch_order_is_a_function_of_seed_and_step():
    from harmony.models.data import StepBatchSampler

    def order(seed, start=0, total=6):
        return [[i for _, i, _ in batch] for batch in StepBatchSampler(10, 4, seed=seed, start=start, total=total)]

    a = order(3)
    assert a == order(3) and a[2:] == order(3, start=2)          # resuming at a step gives the same batches
    # every epoch is a permutation: the first 10 positions cover every index once
    flat = sum(a, [])
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))
    assert a != order(4)


def test_foreground_metrics_hand_computed():
    from harmony.models.train import foreground_metrics

    real = np.full((1, 2, 2, 3), 0.5, np.float32)
    pred = real.copy()
    pred[0, 0, 0] = 0.5 + 10 / 255.0    # one pixel off by 10 levels in every channel
    mask = np.zeros((1, 2, 2), np.float32)
    mask[0, 0, :] = 1                   # foreground: 2 pixels
    m = foreground_metrics(pred, real, mask)
    assert m["mse"] == pytest.approx(100 * 3 / 12, rel=1e-6)
    assert m["fmse"] == pytest.approx(300 / (3 * 2 + 1e-6), rel=1e-6)
    # iharm's PSNR peak is gt.max() (127.5 here), with epsilon 1e-6 (not 255)
    assert m["psnr"] == pytest.approx(10 * np.log10(127.5 ** 2 / (25.0 + 1e-6)), rel=1e-6)


LOADER_AFTER_OPENCV = r'''
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, sys.argv[2])
from test_models_data import make_dataset

from harmony.datagen.samples import available_photos, load_photo
from harmony.models import data as D

root = Path(sys.argv[1])
make_dataset(root)
# What a notebook or a script does before training: OpenCV work in the training process (an upscale,
# a colour conversion, a JPEG write), which starts OpenCV's thread pool.
photo = cv2.resize(load_photo(available_photos()[0]), (640, 480), interpolation=cv2.INTER_AREA)
bgr = cv2.cvtColor(np.clip(photo * 255 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
cv2.imwrite(str(root / "photo.jpg"), bgr)
table = D.paired_table(root, "train")
dataset = D.StreamDataset({"main": table}, 32, seed=0, augment={"hflip": 0.5})
loader = D.make_loader(dataset, D.StepBatchSampler(len(table), 2, seed=0, start=0, total=2), 1)
print("batch", len(next(iter(loader))["main"]["keys"]))
'''


def test_forked_loader_worker_starts_after_opencv_was_used_in_the_parent(tmp_path):
    # Regression: the forked worker's cv2.setNumThreads waited forever on the parent's OpenCV thread pool.
    import subprocess
    import sys

    script = tmp_path / "loader_after_opencv.py"
    script.write_text(LOADER_AFTER_OPENCV)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "data"), str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and proc.stdout.strip() == "batch 2", proc.stderr[-2000:]
