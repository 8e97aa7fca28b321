# Two commands do all the set-up on a fresh machine:
#   make train  — install (first time) and run the main job: the default training experiment
#   make test   — install (first time) and run the full test suite
PYTHON ?= python3
VENV ?= .venv
# Installed only when the venv has no torch yet: a CPU wheel here, the CUDA build on GPU machines.
TORCH_SPEC ?= torch==2.13.0
BIN = $(VENV)/bin
QUIET = 2>&1 | { grep -v "is ignored" || true; }
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
STAMP = $(VENV)/.installed

.PHONY: install train demo test

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip $(QUIET)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)" $(QUIET)
	$(BIN)/python -m pip install -q -e ".[train,dev]" $(QUIET)
	$(BIN)/python -c "import lsgzoo, torch, transformers" && touch $@

train: $(STAMP)
	$(BIN)/python -m lsgzoo.train

demo: $(STAMP)
	$(BIN)/python -m lsgzoo.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2
