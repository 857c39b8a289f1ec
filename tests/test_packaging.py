"""Packaging (issue #18): one version everywhere, ``harmony --version``, name clashes, and the built wheel.

Fast tests check the version's single source (pyproject.toml, read back through importlib.metadata),
that ``harmony --version`` reports torch/numpy/OpenCV/choix without importing torch, that clashes over
the name ``harmony`` are reported, and that pyproject.toml declares ranges while constraints.txt pins.

The ``packaging`` tests build the sdist and the wheel (``python -m build``), check them with ``twine
check``, and install the wheel into a fresh venv that already holds the oldest supported torch (the
folder ``$HARMONY_OLD_TORCH_DIR``, made once by ``make old-torch``; the venv sees it through a ``.pth``
file, the way a user's environment holds its torch), with the other dependencies at the lower bounds of
their ranges (constraints-lowest.txt). Then they check that pip kept that torch and run ``harmony
--version``, ``harmony --help``, ``harmony datagen coco`` on the embedded sample, and a torch model.
They skip when ``HARMONY_OLD_TORCH_DIR`` is unset; ``make test`` and ``make package-check`` set it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
DIST = "harmony-toolkit"

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None


def _pyproject() -> dict:
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _run(cmd, *, env=None, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[re.sub(r"[-_.]+", "-", name).lower()] = version
    return out


# --- version: one source --------------------------------------------------------------------------

def test_version_comes_from_pyproject_through_the_installed_metadata():
    import harmony
    from harmony.datagen._common import tool_version

    version = _pyproject()["project"]["version"]
    assert _pyproject()["project"]["name"] == DIST == harmony.DISTRIBUTION
    assert metadata.version(DIST) == version, "reinstall (make install): the installed metadata is stale"
    assert harmony.__version__ == version
    assert tool_version() == version  # what params.json / run.json record


def test_outputs_record_the_pyproject_version(tmp_path):
    """Read back from the files written: a dataset's run.json and a checkpoint's config.json carry the
    version pyproject.toml declares (the manifest rows of every generator: tests/test_conformance.py)."""
    from harmony.dataset import DatasetWriter

    version = _pyproject()["project"]["version"]
    DatasetWriter(tmp_path / "data", "HCOCO", config={"seed": 0}, command="test")
    assert json.loads((tmp_path / "data" / "HCOCO" / "run.json").read_text())["tool_version"] == version
    pytest.importorskip("torch")
    from harmony.models.checkpoint import read_config, save_checkpoint
    from harmony.models.presets import create_model

    save_checkpoint(tmp_path / "ckpt", create_model("dih_tiny"), preset="dih_tiny", step=0, git="")
    assert read_config(tmp_path / "ckpt")["harmony_version"] == version


def test_version_fallback_for_a_source_tree_that_is_not_installed(tmp_path):
    # `python -S`: no site-packages, so importlib.metadata finds no distribution and the fallback runs.
    pkg = tmp_path / "harmony"
    pkg.mkdir()
    (pkg / "__init__.py").write_text((REPO / "harmony" / "__init__.py").read_text())
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import harmony; print(harmony.__version__)"
    # cwd = tmp_path: the checkout's harmony_toolkit.egg-info (editable install) must not be on sys.path.
    def version() -> str:
        return _run([PY, "-S", "-c", code], cwd=tmp_path).stdout.strip()

    assert version() == "0+unknown"
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "harmony-toolkit"\nversion = "9.8.7rc1"\n')
    assert version() == "9.8.7rc1"
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\nversion = "1.0"\n')
    assert version() == "0+unknown"


# --- harmony --version ----------------------------------------------------------------------------

def test_cli_version_reports_versions_without_importing_torch():
    import choix  # noqa: F401  (installed: its version comes from the distribution)
    import cv2
    import numpy
    import torch

    import harmony

    proc = _run([PY, "-X", "importtime", "-m", "harmony", "--version"])
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"harmony-toolkit {harmony.__version__} (python ")
    assert f"torch {torch.__version__}" in lines
    assert f"numpy {numpy.__version__}" in lines
    ocv = next(line for line in lines if line.startswith("opencv "))
    assert ocv.startswith(f"opencv {cv2.__version__}") and "(opencv-python-headless)" in ocv
    assert f"choix {metadata.version('choix')}" in lines
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "harmony.cli" in imported  # the importtime report is real
    for heavy in ("torch", "cv2", "dask", "numpy", "pandas"):
        assert heavy not in imported, f"`harmony --version` imported {heavy}"


# --- the name `harmony` ---------------------------------------------------------------------------

def _wheel(tmp_path: Path, name: str, version: str, summary: str, files: dict[str, str],
           scripts: dict[str, str]) -> Path:
    """A real (minimal, spec-conforming) wheel that pip installs like any other."""
    tag = re.sub(r"[-.]+", "_", name)
    info = f"{tag}-{version}.dist-info"
    path = tmp_path / f"{tag}-{version}-py3-none-any.whl"
    entries = dict(files)
    entries[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n"
    entries[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if scripts:
        entries[f"{info}/entry_points.txt"] = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items())
    entries[f"{info}/RECORD"] = "".join(f"{k},,\n" for k in [*entries, f"{info}/RECORD"])
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in entries.items():
            zf.writestr(k, v)
    return path


def _version_with(tmp_path: Path, wheel: Path) -> subprocess.CompletedProcess:
    target = tmp_path / "site"
    _run([PY, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", target, wheel])
    env = dict(os.environ, PYTHONPATH=str(target), PATH=f"{target / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return _run([PY, "-m", "harmony", "--version"], env=env)


def test_the_harmony_model_checker_distribution_and_command_are_reported(tmp_path):
    # As on PyPI (harmony 1.2.x): module harmony_model_checker, console script `harmony`.
    wheel = _wheel(tmp_path, "harmony", "1.2.4126", "Harmony Model Checker",
                   {"harmony_model_checker/__init__.py": "", "harmony_model_checker/main.py": "def main():\n    pass\n"},
                   {"harmony": "harmony_model_checker.main:main"})
    proc = _version_with(tmp_path, wheel)
    assert proc.stdout.startswith("harmony-toolkit ")
    warn = proc.stderr.splitlines()
    assert any("distribution 'harmony' 1.2.4126 (Harmony Model Checker)" in w for w in warn), proc.stderr
    assert any("the `harmony` command on PATH" in w and "python -m harmony" in w for w in warn), proc.stderr
    assert not any("import clash" in w for w in warn)


def test_files_installed_into_our_package_folder_are_an_import_clash(tmp_path):
    wheel = _wheel(tmp_path, "harmonyx", "0.1", "another harmony package",
                   {"harmony/other.py": "X = 1\n"}, {})
    warn = _version_with(tmp_path, wheel).stderr
    assert "import clash: harmonyx also install(s) files into the 'harmony' package" in warn


def test_this_toolkits_former_distribution_name_is_reported(tmp_path):
    # What `pip install -e .` left behind before the rename: distribution 'harmony' 0.1.0, our summary.
    wheel = _wheel(tmp_path, "harmony", "0.1.0",
                   "Image-harmonization research toolkit: dataset generators, benchmark harness, "
                   "Bradley-Terry user-study scoring", {"__editable___harmony_0_1_0_finder.py": ""}, {})
    warn = _version_with(tmp_path, wheel).stderr
    assert "this toolkit's former distribution 'harmony' 0.1.0 is still installed" in warn
    assert "import clash" not in warn and "model checker" not in warn.lower()


def test_a_foreign_harmony_init_stops_every_command_with_one_line(tmp_path):
    # Another package's harmony/__init__.py written over ours (what two distributions sharing the
    # folder do): the CLI refuses in one line, exit code 2, instead of a traceback.
    import shutil

    shutil.copytree(REPO / "harmony", tmp_path / "harmony", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "harmony" / "__init__.py").write_text('"""Some other harmony."""\nVERSION = "1.0"\n')
    proc = subprocess.run([PY, "-c", "from harmony.cli import main; main(['--help'])"], cwd=tmp_path,
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Error: the module 'harmony' imported here is not harmony-toolkit's")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_no_warning_in_a_clean_environment():
    assert _run([PY, "-m", "harmony", "--version"]).stderr == ""


# --- ranges in pyproject, pins in constraints -----------------------------------------------------

def test_pyproject_declares_ranges_and_constraints_pin_inside_them():
    from packaging.requirements import Requirement

    project = _pyproject()["project"]
    pins = _pins(REPO / "constraints.txt")
    lowest = _pins(REPO / "constraints-lowest.txt")
    reqs = [Requirement(r) for r in project["dependencies"]]
    for _extra, items in project["optional-dependencies"].items():
        reqs += [Requirement(r) for r in items]
    for req in reqs:
        assert not any(s.operator in ("==", "===") for s in req.specifier), f"exact pin in pyproject: {req}"
        key = re.sub(r"[-_.]+", "-", req.name).lower()
        assert key in pins, f"{req.name} is not pinned in constraints.txt"
        assert req.specifier.contains(pins[key], prereleases=True), f"constraints.txt {key}=={pins[key]} outside {req}"
    torch = next(r for r in reqs if r.name == "torch")
    assert str(torch.specifier) == ">=2.1"
    assert "+" not in pins["torch"], "pin torch without a local label: the Makefile picks the build"
    for req in (r for r in reqs if r in [Requirement(d) for d in project["dependencies"]]):
        key = re.sub(r"[-_.]+", "-", req.name).lower()
        if key == "torch":
            continue
        lows = [s.version for s in req.specifier if s.operator == ">="]
        assert lowest.get(key) and lows and lowest[key].startswith(lows[0]), (
            f"constraints-lowest.txt must pin {key} at the lower bound {lows}")


# --- where the Makefile takes torch from ------------------------------------------------------------

@pytest.fixture(scope="module")
def empty_venv(tmp_path_factory):
    # Without pip (ensurepip takes ~20 s on a busy machine): this checkout's pip works on it (--python).
    venv = tmp_path_factory.mktemp("emptyvenv")
    _run([PY, "-m", "venv", "--without-pip", venv])
    return venv


def _torch_choice(venv: Path, env: dict, *args: str) -> str:
    pip = f"{PY} -m pip --python {venv / 'bin' / 'python'}"
    proc = _run(["make", "-s", "-C", REPO, "install-torch", f"VENV={venv}", f"PIP={pip}", "TORCH_DRY_RUN=1", *args],
                env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("torch ")]
    assert len(lines) == 1, proc.stdout
    return lines[0]


def _local_torch_wheels(version: str) -> list[Path]:
    """torch wheels of `version` in the find-links folders of this machine's pip configuration."""
    listing = _run([PY, "-m", "pip", "config", "list"]).stdout
    folders = re.findall(r"find-links='([^']*)'", listing)
    folders += os.environ.get("PIP_FIND_LINKS", "").split()
    return [w for f in folders for w in Path(f.removeprefix("file://")).glob(f"torch-{version}*.whl")]


def test_makefile_takes_torch_from_the_local_wheel_else_the_cpu_index(empty_venv):
    version = _pins(REPO / "constraints.txt")["torch"]
    here = _torch_choice(empty_venv, dict(os.environ))
    if _local_torch_wheels(version):
        assert "the wheel your pip configuration has on local disk" in here
    # A machine without that pip configuration (no config files, no PIP_FIND_LINKS) and without a GPU.
    bare = {k: v for k, v in os.environ.items() if k != "PIP_FIND_LINKS"}
    bare["PIP_CONFIG_FILE"] = os.devnull
    bare["PATH"] = os.pathsep.join(p for p in bare["PATH"].split(os.pathsep)
                                   if not (Path(p) / "nvidia-smi").exists())
    assert _torch_choice(empty_venv, bare) == (
        f"torch {version}: CPU-only machine, CPU build from https://download.pytorch.org/whl/cpu "
        "(override: TORCH_INDEX=...)")
    assert _torch_choice(empty_venv, bare, "TORCH_INDEX=https://example.invalid/whl/cu126") == (
        f"torch {version}: from TORCH_INDEX=https://example.invalid/whl/cu126")
    assert "configured index (TORCH_INDEX=default)" in _torch_choice(empty_venv, bare, "TORCH_INDEX=default")


# --- the built wheel in a fresh venv that already holds the oldest supported torch ------------------

OLD_TORCH_DIR = os.environ.get("HARMONY_OLD_TORCH_DIR")
packaging = pytest.mark.skipif(not OLD_TORCH_DIR, reason="HARMONY_OLD_TORCH_DIR unset (make test / make package-check set it)")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    t0 = time.perf_counter()
    # No --sdist/--wheel: build makes the sdist, then the wheel FROM the sdist (so the sdist is complete).
    _run([PY, "-m", "build", "--outdir", out, REPO], timeout=600)
    print(f"\n[packaging] python -m build: {time.perf_counter() - t0:.1f} s")
    wheel, = out.glob("*.whl")
    sdist, = out.glob("*.tar.gz")
    return wheel, sdist


@packaging
def test_twine_check_passes(built):
    proc = _run([PY, "-m", "twine", "check", "--strict", *built])
    assert proc.stdout.count("PASSED") == 2


@packaging
def test_wheel_and_sdist_hold_the_package_and_its_metadata(built):
    wheel, sdist = built
    tracked = _run(["git", "ls-files", "harmony"], cwd=REPO).stdout.split()
    assert "harmony/datagen/samples.py" in tracked
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    missing = [f for f in tracked if f not in names]
    assert not missing, f"package files missing from the wheel: {missing}"
    assert not any(n.startswith("tests/") for n in names)
    assert "harmony = harmony.cli:main" in entry
    assert f"Name: {DIST}\n" in meta and f"Version: {_pyproject()['project']['version']}\n" in meta
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    assert "Requires-Dist: torch>=2.1" in requires
    assert not [r for r in requires if "==" in r.split(";")[0]], requires
    with tarfile.open(sdist) as tf:
        top = tf.getnames()[0].split("/")[0]
        snames = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    assert not [f for f in tracked if f not in snames], "package files missing from the sdist"
    assert "pyproject.toml" in snames and "README.md" in snames and top.startswith("harmony_toolkit-")


@pytest.fixture(scope="module")
def old_torch_venv(built, tmp_path_factory):
    """A fresh venv that already holds torch (the oldest supported) before the wheel is installed."""
    old = Path(OLD_TORCH_DIR)
    torch_old = next(old.glob("torch-*.dist-info")).name[len("torch-"):-len(".dist-info")]
    venv = tmp_path_factory.mktemp("venv")
    t0 = time.perf_counter()
    # No pip inside the venv: this checkout's pip installs into it (`pip --python`), the same resolver
    # without the seconds ensurepip takes.
    _run([PY, "-m", "venv", "--without-pip", venv])
    vpy = venv / "bin" / "python"
    pip = [PY, "-m", "pip", "--python", vpy]
    site = Path(_run([vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "zz_old_torch.pth").write_text(str(old) + "\n")
    before = _run([vpy, "-c", "import importlib.metadata as m; print(m.version('torch'))"]).stdout.strip()
    assert before == torch_old
    # The user's command (pip install <wheel>, dependencies resolved), with the other dependencies at
    # the lower bounds of their ranges. Nothing pins torch here.
    # --no-compile: byte-compiling ~40 packages is most of the install time on a busy 2-core machine
    # and is not what is being checked.
    proc = _run([*pip, "install", "--no-compile", "--only-binary=:all:", "-c", REPO / "constraints-lowest.txt",
                 built[0]], timeout=900)
    seconds = time.perf_counter() - t0
    print(f"\n[packaging] fresh venv + pip install of the wheel: {seconds:.1f} s")
    return {"python": vpy, "pip": pip, "bin": venv / "bin", "site": site, "torch": torch_old,
            "install_log": proc.stdout}


@packaging
def test_pip_install_keeps_the_existing_torch(old_torch_venv):
    vpy, site = old_torch_venv["python"], old_torch_venv["site"]
    where = _run([vpy, "-c", "import importlib.metadata as m; d = m.distribution('torch'); "
                 "print(d.version); print(d.locate_file(''))"]).stdout.split()
    assert where[0] == old_torch_venv["torch"], "pip replaced the existing torch"
    assert Path(where[1]).resolve() == Path(OLD_TORCH_DIR).resolve()
    assert not list(site.glob("torch-*.dist-info")), "pip installed a second torch into the venv"
    assert not re.search(r"Successfully installed .*\btorch-", old_torch_venv["install_log"])
    _run([*old_torch_venv["pip"], "check"])  # every requirement satisfied, torch's included


@packaging
def test_installed_wheel_runs_the_commands_at_the_lower_bounds(old_torch_venv, tmp_path):
    harmony = old_torch_venv["bin"] / "harmony"
    env = dict(os.environ, HARMONY_CACHE=str(tmp_path / "cache"), MPLBACKEND="Agg")
    env.pop("PYTHONPATH", None)
    lines = _run([harmony, "--version"], env=env, cwd=tmp_path).stdout.splitlines()
    assert lines[0].startswith(f"harmony-toolkit {_pyproject()['project']['version']} ")
    assert str(old_torch_venv["site"]) in lines[0]  # the installed wheel, not this checkout
    lowest = _pins(REPO / "constraints-lowest.txt")
    assert f"torch {old_torch_venv['torch']}" in lines
    assert f"numpy {lowest['numpy']}" in lines and f"choix {lowest['choix']}" in lines
    assert "datagen" in _run([harmony, "--help"], env=env, cwd=tmp_path).stdout
    out = tmp_path / "data"
    t0 = time.perf_counter()
    _run([harmony, "datagen", "coco", "--out", out], env=env, cwd=tmp_path)
    print(f"\n[packaging] datagen coco in the fresh venv: {time.perf_counter() - t0:.1f} s")
    composites = list((out / "HCOCO" / "composite_images").glob("*.jpg"))
    assert composites, sorted(p.name for p in out.rglob("*"))[:20]
    _run([harmony, "check", out], env=env, cwd=tmp_path)


@packaging
def test_a_torch_model_runs_on_the_oldest_torch(old_torch_venv, tmp_path):
    code = (
        "import json, numpy as np, torch\n"
        "from harmony.models.presets import create_model\n"
        "from harmony.models.adapter import TorchHarmonizer\n"
        "torch.manual_seed(0)\n"
        "net = create_model('dih_tiny').eval()\n"
        "h = TorchHarmonizer(net, size=net.size)\n"
        "rng = np.random.default_rng(0)\n"
        "comp = rng.random((48, 64, 3), dtype=np.float32)\n"
        "mask = np.zeros((48, 64), np.float32); mask[10:30, 20:40] = 1\n"
        "out = h(comp, mask)\n"
        "print(json.dumps({'torch': torch.__version__, 'shape': list(out.shape), 'dtype': str(out.dtype),\n"
        "                  'bg_kept': bool(np.array_equal(out[mask == 0], comp[mask == 0]))}))\n"
    )
    res = json.loads(_run([old_torch_venv["python"], "-c", code], cwd=tmp_path).stdout.strip().splitlines()[-1])
    assert res.pop("torch").split("+")[0] == old_torch_venv["torch"]
    assert res == {"shape": [48, 64, 3], "dtype": "float32", "bg_kept": True}
