# The two commands of the README, `make demo` and `make test`, are all the set-up a fresh machine needs:
# each creates .venv when it is missing and installs the project into it.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.offpipe-installed
DEMO_PRODUCTS ?= 20000
DEMO_OCR_RATE ?= 0.05
# Reference data (taxonomies, Robotoff's keyword lists). When the shared folder is beside the checkout,
# the demo and the tests use it; otherwise the generator falls back to its embedded vocabulary.
SHARED_DATA ?= $(abspath ../shared/data)

export OFF_DATA_DIR ?= $(abspath data)

.PHONY: install demo test wheel-check lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	@if [ -d "$(SHARED_DATA)/taxonomies" ]; then \
	  export OFF_TAXONOMY_DIR="$(SHARED_DATA)/taxonomies" OFF_KEYWORDS_DIR="$(SHARED_DATA)/ocr-keywords" \
	         OFF_GRAMMARS_DIR="$(SHARED_DATA)/grammars"; fi; \
	export PREFECT_HOME="$${PREFECT_HOME:-$(OFF_DATA_DIR)/prefect}"; \
	set -e; \
	$(VENV)/bin/offpipe synth --products $(DEMO_PRODUCTS) --seed 42 --ocr-rate $(DEMO_OCR_RATE) \
	  --out "$(OFF_DATA_DIR)/demo/products.jsonl.gz" \
	  --ocr-out "$(OFF_DATA_DIR)/demo/ocr.jsonl.gz" > /dev/null; \
	if [ -z "$${OFF_KEYWORDS_DIR:-}" ] && [ ! -d "$(OFF_DATA_DIR)/ocr-keywords" ]; then \
	  echo "No Robotoff keyword lists here (../shared/data absent and offline): run 'offpipe reference refresh'"; \
	  echo "with network access to predict; the demo stops after the conversion and the barcode audit."; \
	  $(VENV)/bin/offpipe convert "$(OFF_DATA_DIR)/demo/products.jsonl.gz" --flavor off --min-rows 0 \
	    --force > /dev/null; \
	  $(VENV)/bin/offpipe audit-barcodes --flavor off; exit 0; fi; \
	$(VENV)/bin/offpipe nightly --flavor off --url "$(OFF_DATA_DIR)/demo/products.jsonl.gz" --min-lines 0 \
	  --ocr "$(OFF_DATA_DIR)/demo/ocr.jsonl.gz" --facets-dry-run --force > "$(OFF_DATA_DIR)/demo/nightly.json"; \
	$(PY) -c 'import json,sys; from pipelines.nightly import counts_table; print(counts_table(json.load(open(sys.argv[1]))))' \
	  "$(OFF_DATA_DIR)/demo/nightly.json"; \
	echo "Demo outputs under $(OFF_DATA_DIR): dumps/off, parquet/off, store.duckdb, reports/, demo/nightly.json"

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest

# The package as a user installs it: a wheel in a fresh venv runs synth, convert, audit, refresh, export and
# facets from outside the checkout (.ci/wheel-check). Needs no .venv; dependencies come from the package index.
wheel-check:
	SHARED_DATA="$(SHARED_DATA)" PYTHON="$(PYTHON)" .ci/wheel-check

# Style (ruff), the layers (lint-imports, contracts in pyproject.toml), no import cycle between any two
# modules, and every SQL file's contract (parses, MODEL header true, used by name).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q -p no:cacheprovider tests/test_import_graph.py tests/sql

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	@if [ -d "$(SHARED_DATA)/taxonomies" ]; then \
	  export OFF_TAXONOMY_DIR="$(SHARED_DATA)/taxonomies" OFF_KEYWORDS_DIR="$(SHARED_DATA)/ocr-keywords" \
	         OFF_GRAMMARS_DIR="$(SHARED_DATA)/grammars"; fi; \
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
