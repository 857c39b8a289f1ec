"""harmony.parallel and harmony.datagen.runner: seeds, inline/process/Dask execution, error capture,
resume of failed units."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
import pytest

from harmony import dataset as ds
from harmony.datagen.runner import run_units
from harmony.parallel import as_rng, map_units, unit_rng, unit_seed


def test_unit_seed_matches_its_definition_and_is_stable():
    # Independent restatement of the documented rule: sha256("<seed>:<key>"), first 8 bytes LE, >> 1.
    expected = int.from_bytes(hashlib.sha256(b"7:c42").digest()[:8], "little") >> 1
    assert unit_seed(7, "c42") == expected
    assert 0 <= expected < 2 ** 63
    assert unit_seed(7, "c42") != unit_seed(8, "c42") != unit_seed(7, "c43")
    a = unit_rng(3, "k").random(4)
    np.testing.assert_array_equal(a, np.random.default_rng(unit_seed(3, "k")).random(4))


def test_as_rng():
    g = np.random.default_rng(1)
    assert as_rng(g) is g
    np.testing.assert_array_equal(as_rng(5).random(3), np.random.default_rng(5).random(3))
    fresh = as_rng(None)  # unseeded: a new generator each time, drawing from OS entropy
    assert isinstance(fresh, np.random.Generator) and fresh is not as_rng(None)
    assert fresh.integers(0, 2**62, 4).tolist() != as_rng(None).integers(0, 2**62, 4).tolist()


def _square_or_fail(x: int) -> dict:
    if x == 3:
        raise ValueError("three is bad")
    return {"pid": os.getpid(), "value": x * x, "draw": float(unit_rng(0, str(x)).random())}


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_map_units_all_modes_same_results_and_errors_captured(workers):
    results = {r.key: r for r in map_units(_square_or_fail, list(range(6)), workers=workers, progress=False,
                                           key=str)}
    assert sorted(results) == [str(i) for i in range(6)]
    assert not results["3"].ok and "three is bad" in results["3"].error and "ValueError" in results["3"].traceback
    assert [results[str(i)].value["value"] for i in (0, 1, 2, 4, 5)] == [0, 1, 4, 16, 25]
    inline = {str(i): float(unit_rng(0, str(i)).random()) for i in (0, 1, 2, 4, 5)}
    assert {k: r.value["draw"] for k, r in results.items() if r.ok} == inline
    pids = {r.value["pid"] for r in results.values() if r.ok}
    if workers == 0:
        assert pids == {os.getpid()}
    else:
        assert os.getpid() not in pids   # really ran in worker processes


def test_map_units_on_dask_cluster(dask_cluster):
    results = {r.key: r for r in map_units(_square_or_fail, list(range(6)), scheduler=dask_cluster,
                                           progress=False, key=str)}
    assert sorted(results) == [str(i) for i in range(6)]
    assert not results["3"].ok and "three is bad" in results["3"].error
    assert results["5"].value["value"] == 25
    assert results["5"].value["draw"] == float(unit_rng(0, "5").random())
    assert os.getpid() not in {r.value["pid"] for r in results.values() if r.ok}


@dataclass(frozen=True)
class _U:
    key: str
    flaky_marker: str


def _work(unit: _U, layout: ds.SubsetLayout) -> dict:
    if os.path.exists(unit.flaky_marker) and unit.key == "c2":
        raise RuntimeError("disk hiccup")
    name = ds.composite_name("c", unit.key[1:], 1, 1)
    layout.write_composite(name, np.full((4, 4, 3), 0.5, np.float32))
    return {"rows": [{"composite": f"composite_images/{name}", "split": "train"}]}


def test_failed_unit_is_reported_and_retried_by_next_run(tmp_path):
    marker = tmp_path / "fail"
    marker.write_text("1")
    units = [_U(f"c{i}", str(marker)) for i in (1, 2, 3)]
    w = ds.DatasetWriter(tmp_path / "out", "HCOCO", config={}, command="t")
    s = run_units(w, units, _work, workers=0, progress=False)
    assert s.failed == [("c2", "RuntimeError: disk hiccup")] and s.final.composites == 2
    assert any("FAILED c2" in line for line in s.lines())
    marker.unlink()
    w = ds.DatasetWriter(tmp_path / "out", "HCOCO", config={}, command="t")
    s = run_units(w, units, _work, workers=0, progress=False)
    assert s.units_resumed == 2 and s.units_run == 1 and not s.failed and s.final.composites == 3


def test_duplicate_unit_keys_rejected(tmp_path):
    w = ds.DatasetWriter(tmp_path, "HCOCO", config={}, command="t")
    with pytest.raises(ValueError, match="unique"):
        run_units(w, [_U("c1", "x"), _U("c1", "x")], _work, workers=0, progress=False)
