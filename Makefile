# The two commands of the README, `make demo` and `make test`, are all the set-up a fresh machine needs:
# each creates .venv when it is missing and installs the project into it.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.offpipe-installed
DEMO_PRODUCTS ?= 2000
# Reference data (taxonomies, Robotoff's keyword lists). When the shared folder is beside the checkout,
# the demo and the tests use it; otherwise the generator falls back to its embedded vocabulary.
SHARED_DATA ?= $(abspath ../shared/data)

export OFF_DATA_DIR ?= $(abspath data)

.PHONY: install demo test lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	@if [ -d "$(SHARED_DATA)/taxonomies" ]; then \
	  export OFF_TAXONOMY_DIR="$(SHARED_DATA)/taxonomies" OFF_KEYWORDS_DIR="$(SHARED_DATA)/ocr-keywords" \
	         OFF_GRAMMARS_DIR="$(SHARED_DATA)/grammars"; fi; \
	set -e; \
	$(VENV)/bin/offpipe synth --products $(DEMO_PRODUCTS) --seed 42 \
	  --out "$(OFF_DATA_DIR)/demo/products.jsonl.gz" \
	  --ocr-out "$(OFF_DATA_DIR)/demo/ocr.jsonl.gz" \
	  --truth-out "$(OFF_DATA_DIR)/demo/truth.jsonl.gz"; \
	real="$(SHARED_DATA)/products/off-real-sample.jsonl.gz"; \
	if [ -f "$$real" ]; then compare=(--profile "$$real"); else compare=(); fi; \
	$(VENV)/bin/offpipe synth --profile "$(OFF_DATA_DIR)/demo/products.jsonl.gz" "$${compare[@]}" --top 40; \
	$(VENV)/bin/offpipe convert "$(OFF_DATA_DIR)/demo/products.jsonl.gz" --flavor off > "$(OFF_DATA_DIR)/demo/convert.json"; \
	$(VENV)/bin/offpipe audit-barcodes --flavor off > /dev/null; \
	if [ -z "$${OFF_KEYWORDS_DIR:-}" ] && [ ! -d "$(OFF_DATA_DIR)/ocr-keywords" ]; then \
	  echo "No Robotoff keyword lists here (../shared/data absent and offline): run 'offpipe reference refresh'"; \
	  echo "with network access to predict; the demo stops after the conversion and the barcode audit."; exit 0; fi; \
	$(VENV)/bin/offpipe refresh --flavor off --ocr "$(OFF_DATA_DIR)/demo/ocr.jsonl.gz" > "$(OFF_DATA_DIR)/demo/refresh.json"; \
	$(VENV)/bin/offpipe insights export --format jsonl --out "$(OFF_DATA_DIR)/demo/insights.jsonl" > /dev/null; \
	$(PY) -c 'import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps({"predictions": r["predict"]["per_type"], "insights": r["totals"]}, indent=2))' "$(OFF_DATA_DIR)/demo/refresh.json"; \
	echo "Demo outputs under $(OFF_DATA_DIR): parquet/off, store.duckdb, reports/barcodes/off, demo/insights.jsonl"

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

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
