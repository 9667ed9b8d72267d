# Every target creates .venv when it is missing and installs the project into it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONHASHSEED := 0

.PHONY: venv test test-all lint docs demo demo-ablation bench clean

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

## make bench: speed of the layers and the detector against their baselines (JSON + docs table)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_dct.py --out benchmarks/results/bench_dct.json
	$(BIN)/python benchmarks/bench_sida.py --compile --out benchmarks/results/bench_sida.json
	$(BIN)/python benchmarks/bench_model.py --out benchmarks/results/bench_model.json
	$(BIN)/python benchmarks/bench_preprocess.py --out benchmarks/results/bench_preprocess.json
	$(BIN)/python benchmarks/report.py benchmarks/results docs/benchmarks.rst

clean:
	rm -rf $(VENV) docs/_build .pytest_cache .mypy_cache .ruff_cache
