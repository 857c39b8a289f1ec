# Two commands for a fresh machine: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo_out

.PHONY: all install demo test bench-deps benchmarks clean

all: test

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[test,render,study]"
	# simple-lama-inpainting's metadata pins numpy<2, pillow<10, opencv<5 and torchvision; its code
	# needs none of those pins, so it is installed without its dependencies.
	$(PIP) install -q --no-deps "simple-lama-inpainting==0.1.2"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh $(DEMO_OUT)

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
