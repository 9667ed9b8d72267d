# Every target creates .venv when it is missing and installs the project into it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONHASHSEED := 0

.PHONY: venv test test-all lint docs demo demo-ablation real-faces real-faces-ablation bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check freqforensics tests examples benchmarks docs/conf.py
	$(BIN)/mypy freqforensics

docs: $(STAMP)
	rm -rf docs/api/generated
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

## make test: lint, types, the fast test suite with doctests, and the docs (warnings are errors)
test: lint
	HYPOTHESIS_PROFILE=ci $(BIN)/pytest -m "not slow" -q
	rm -rf docs/api/generated
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	$(BIN)/sphinx-build -W --keep-going -q -b doctest docs docs/_build/doctest

## make test-all: everything, the slow suite included
test-all: lint
	$(BIN)/pytest -q
	rm -rf docs/api/generated
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	$(BIN)/sphinx-build -W --keep-going -q -b doctest docs docs/_build/doctest

## make demo: train and evaluate SFCL-HCMF on the embedded data set (CPU preset, < 10 min)
demo: $(STAMP)
	$(BIN)/python examples/train_sfcl_hcmf.py --config configs/cpu-demo.yaml --out runs/demo

demo-ablation: $(STAMP)
	$(BIN)/python examples/train_sfcl_hcmf.py --config configs/cpu-demo.yaml --out runs/demo-ablation --ablations

## make real-faces: SBI on real faces only, leave-one-video-out on ../shared/data (35-62 min on 2 cores)
real-faces: $(STAMP)
	$(BIN)/python examples/real_faces.py --config configs/real-faces-cpu.yaml --out runs/real-faces

## make real-faces-ablation: the recipe, the ellipse blend, with SIDA, with H.264, per-frame
## detection, three folds each (15 models, about 2.5 h on 2 cores; --variants picks some)
real-faces-ablation: $(STAMP)
	$(BIN)/python examples/real_faces.py --config configs/real-faces-cpu.yaml --out runs/real-faces-ablation --ablation

## make bench: speed of the layers and the detector against their baselines (JSON + docs table).
## Refuses to record from a tree with uncommitted changes; make bench FORCE=1 records anyway
## (the JSON then says git_dirty: true).
BENCH_FLAGS := $(if $(FORCE),--allow-dirty)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_dct.py --out benchmarks/results/bench_dct.json $(BENCH_FLAGS)
	$(BIN)/python benchmarks/bench_sida.py --compile --out benchmarks/results/bench_sida.json $(BENCH_FLAGS)
	$(BIN)/python benchmarks/bench_model.py --out benchmarks/results/bench_model.json $(BENCH_FLAGS)
	$(BIN)/python benchmarks/bench_preprocess.py --out benchmarks/results/bench_preprocess.json $(BENCH_FLAGS)
	$(BIN)/python benchmarks/profile_tracking.py --out benchmarks/results/profile_tracking.json $(BENCH_FLAGS)
	$(BIN)/python benchmarks/bench_dataloader.py --out benchmarks/results/bench_dataloader.json $(BENCH_FLAGS)
	$(BIN)/python benchmarks/export_parity.py --out benchmarks/results/export_parity.json $(BENCH_FLAGS)
	$(BIN)/python benchmarks/report.py benchmarks/results docs/benchmarks.rst

clean:
	rm -rf $(VENV) docs/_build .pytest_cache .mypy_cache .ruff_cache
