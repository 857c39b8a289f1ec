# Two commands for a fresh machine: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo_out

.PHONY: all install demo test bench-deps benchmarks clean docs-numbers

all: test

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[test,render]"
	# simple-lama-inpainting's metadata pins numpy<2, pillow<10, opencv<5 and torchvision; its code
	# needs none of those pins, so it is installed without its dependencies.
	$(PIP) install -q --no-deps "simple-lama-inpainting==0.1.2"
	touch $(STAMP)

install: $(STAMP)

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

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests

# Peers used only by the speed scripts in benchmarks/ (never by the package or the tests).
# --no-deps keeps the test environment unchanged (crowd-kit's dependencies would pull pyarrow, which
# changes pandas' default string dtype); crowd-kit goes to its own folder, which bench_bt.py loads.
bench-deps: $(STAMP)
	$(PIP) install -q --no-deps color-matcher==0.6.0 python-color-transfer==0.1.2a0
	$(PIP) install -q --no-deps --target $(VENV)/bench-peers crowd-kit==1.4.2 attrs

benchmarks: bench-deps
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(DEMO_OUT) build *.egg-info
