# Two commands for a fresh machine: `make demo` and `make test`. Both create .venv on first use.
#
# The package's own requirements are ranges (pyproject.toml); the exact versions installed here come
# from constraints.txt, so the demo and the tests are reproducible. README "Install" explains the routes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
CONSTRAINTS := constraints.txt
# Extras installed into .venv (add yours here).
EXTRAS ?= test,render,study,docs
DEMO_OUT ?= demo_out

# --- torch --------------------------------------------------------------------------------------
# The version comes from constraints.txt. Where the build comes from (see `install-torch` below):
#   TORCH_INDEX unset (auto):
#     1. your pip configuration already has a torch==$(TORCH_VERSION) wheel on local disk (find-links):
#        that wheel, nothing downloaded for torch;
#     2. otherwise, an NVIDIA GPU (nvidia-smi lists one): your configured index (PyPI: the CUDA build);
#     3. otherwise (CPU-only): the CPU wheel index $(TORCH_CPU_INDEX).
#   TORCH_INDEX=URL: torch from that index (e.g. https://download.pytorch.org/whl/cu126).
#   TORCH_INDEX=default: torch from your configured index (PyPI: on Linux the CUDA build).
#   TORCH_DRY_RUN=1: only print which of these applies (tests/test_packaging.py checks the choice).
TORCH_VERSION := $(shell sed -n 's/^torch==//p' $(CONSTRAINTS))
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

# --- packaging check (tests/test_packaging.py) ----------------------------------------------------
# The oldest supported torch, installed once (with its dependencies) into a cache folder outside the
# clone; the packaging test makes a fresh venv that sees it and installs the built wheel there.
# torch 2.1 is the oldest supported; it has wheels for CPython 3.8-3.11 only, so newer Pythons use
# the oldest torch that has wheels for them (3.12: 2.2.0, 3.13: 2.5.0).
TORCH_OLDEST ?= $(shell $(PYTHON) -c "import sys; print({12: '2.2.0', 13: '2.5.0'}.get(sys.version_info[1], '2.1.0'))")
CI_CACHE ?= $(HOME)/.cache/harmony-ci
OLD_TORCH_DIR := $(CI_CACHE)/torch-$(TORCH_OLDEST)
OLD_TORCH_STAMP := $(OLD_TORCH_DIR)/.complete

.PHONY: all install install-torch demo test package-check old-torch bench-deps benchmarks clean docs lint docs-numbers

all: test

$(STAMP): pyproject.toml Makefile $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	@# This toolkit's former distribution name was `harmony`: remove an old install of it from .venv.
	$(PIP) uninstall -y -q harmony 2>/dev/null || true
	$(MAKE) --no-print-directory install-torch
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	@# simple-lama-inpainting's metadata pins numpy<2, pillow<10, opencv<5 and torchvision; its code
	@# needs none of those pins, so it is installed without its dependencies.
	$(PIP) install -q --no-deps -c $(CONSTRAINTS) simple-lama-inpainting
	touch $(STAMP)

install: $(STAMP)

install-torch:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@set -e; \
	have=$$($(PY) -c "import importlib.metadata as m; print(m.version('torch'))" 2>/dev/null || true); \
	if [ -n "$$have" ] && [ "$${have%%+*}" = "$(TORCH_VERSION)" ]; then \
	  echo "torch $(TORCH_VERSION): already installed ($$have)"; \
	elif [ -n "$(TORCH_INDEX)" ] && [ "$(TORCH_INDEX)" != default ]; then \
	  echo "torch $(TORCH_VERSION): from TORCH_INDEX=$(TORCH_INDEX)"; \
	  [ -n "$(TORCH_DRY_RUN)" ] || $(PIP) install -q --no-deps --index-url "$(TORCH_INDEX)" "torch==$(TORCH_VERSION)"; \
	elif [ "$(TORCH_INDEX)" = default ]; then \
	  echo "torch $(TORCH_VERSION): from the configured index (TORCH_INDEX=default)"; \
	elif $(PIP) install -q --dry-run --no-deps --no-index "torch==$(TORCH_VERSION)" >/dev/null 2>&1; then \
	  echo "torch $(TORCH_VERSION): the wheel your pip configuration has on local disk (find-links; pip config list)"; \
	elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	  echo "torch $(TORCH_VERSION): NVIDIA GPU found, the configured index (PyPI: CUDA build)"; \
	else \
	  echo "torch $(TORCH_VERSION): CPU-only machine, CPU build from $(TORCH_CPU_INDEX) (override: TORCH_INDEX=...)"; \
	  [ -n "$(TORCH_DRY_RUN)" ] || $(PIP) install -q --no-deps --index-url "$(TORCH_CPU_INDEX)" "torch==$(TORCH_VERSION)"; \
	fi; \
	if [ -n "$(TORCH_DRY_RUN)" ]; then exit 0; fi; \
	$(PIP) install -q -c $(CONSTRAINTS) "torch==$(TORCH_VERSION)"; \
	$(PY) -c "import importlib.metadata as m; print('torch installed:', m.version('torch'))"


# The demo ends by comparing its numbers with README's demo paragraph: a drift fails loudly.
demo: $(STAMP)
	bash scripts/demo.sh $(DEMO_OUT)
	$(PY) scripts/readme_numbers.py --check --numbers $(DEMO_OUT)/demo_numbers.json

# Regenerate every number in README/docs that comes from a command, by running the commands: the demo
# (README's demo paragraph) and each `<!-- docs-numbers: COMMAND -->` block in docs/ (docs/studies.md:
# the studies at tiny and small, about 40 min on 2 cores).
# The runs start from scratch (DEMO_OUT and DOCS_RUNS are deleted first) so no cache or checkpoint made by
# older code survives; DOCS_REUSE=1 keeps them (quick re-check). DOCS_ONLY=TEXT limits the docs blocks to
# the commands containing TEXT.
DOCS_RUNS ?= build/docs_runs
DOCS_ONLY ?=
DOCS_REUSE ?=
docs-numbers: $(STAMP)
	$(if $(DOCS_REUSE),,rm -rf $(DEMO_OUT) $(DOCS_RUNS))
	bash scripts/demo.sh $(DEMO_OUT)
	$(PY) scripts/readme_numbers.py --write --numbers $(DEMO_OUT)/demo_numbers.json
	$(PY) scripts/docs_numbers.py --write --runs $(DOCS_RUNS) $(if $(DOCS_ONLY),--only "$(DOCS_ONLY)")

# Lint (ruff), then the whole suite, the packaging check included (it needs the cached oldest torch).
test: $(STAMP) $(OLD_TORCH_STAMP)
	$(PY) -m ruff check harmony tests benchmarks scripts docs/api
	HARMONY_OLD_TORCH_DIR=$(OLD_TORCH_DIR) $(PY) -m pytest -q -p no:cacheprovider tests

# API reference from the docstrings (Sphinx + numpydoc; sources in docs/api) into build/docs.
# Warnings are printed (nitpicky), never fatal; tests/test_docs_build.py runs the same build.
docs: $(STAMP)
	$(PY) -m sphinx -q -n -b html docs/api build/docs
	@echo "API reference: build/docs/index.html"

# Ruff (config: [tool.ruff] in pyproject.toml).
lint: $(STAMP)
	$(PY) -m ruff check harmony tests benchmarks scripts docs/api

# Only the packaging check (build + twine check + wheel in a fresh venv with the oldest torch).
package-check: $(STAMP) $(OLD_TORCH_STAMP)
	HARMONY_OLD_TORCH_DIR=$(OLD_TORCH_DIR) $(PY) -m pytest -q -p no:cacheprovider tests/test_packaging.py

old-torch: $(OLD_TORCH_STAMP)

# torch $(TORCH_OLDEST) from the configured index (PyPI has only its CUDA build for Linux x86_64:
# about 2.7 GB with the nvidia-* libraries, downloaded once; they make it importable on CPU too).
$(OLD_TORCH_STAMP): | $(STAMP)
	rm -rf $(OLD_TORCH_DIR)
	$(PIP) install -q --target $(OLD_TORCH_DIR) "torch==$(TORCH_OLDEST)"
	touch $@

# Peers used only by the speed scripts in benchmarks/ (never by the package or the tests).
# --no-deps keeps the test environment unchanged (crowd-kit's dependencies would pull pyarrow, which
# changes pandas' default string dtype); crowd-kit goes to its own folder, which bench_bt.py loads.
bench-deps: $(STAMP)
	$(PIP) install -q --no-deps color-matcher==0.6.0 python-color-transfer==0.1.2a0
	$(PIP) install -q --no-deps --target $(VENV)/bench-peers crowd-kit==1.4.2 attrs

benchmarks: bench-deps
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(DEMO_OUT) build dist *.egg-info docs/api/generated
