# tsukeku — every target sets up what it needs; `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
# torch is constrained so the local CPU wheel torch==2.13.0 is taken where it exists.
PIP_INSTALL := $(PIP) install --disable-pip-version-check -c constraints.txt
PYTEST_ARGS ?=

.PHONY: setup setup-dev test test-integration test-all lint demo browser postgres bench bench-prosody bench-train bench-compose bench-serve bench-link bench-prefs bench-renga bench-gpu bench-store bench-session clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q --upgrade pip

$(VENV)/.setup-stamp: $(BIN)/python pyproject.toml constraints.txt
	$(PIP_INSTALL) -q torch==2.13.0 || $(PIP_INSTALL) -q torch
	$(PIP_INSTALL) -q -e .
	touch $@

$(VENV)/.dev-stamp: $(VENV)/.setup-stamp
	$(PIP_INSTALL) -q -e '.[dev]'
	touch $@

setup: $(VENV)/.setup-stamp

setup-dev: $(VENV)/.dev-stamp

# Chromium and a Japanese font for the browser tests (skipped with a reason when apt is unavailable).
browser:
	@bash scripts/ensure-browser.sh || true

# PostgreSQL server binaries for the store's tests (they start a throw-away server); installed
# with apt-get when missing. Fails only in CI (CI=true), where those tests must run, not skip.
postgres:
	@bash scripts/ensure-postgres.sh

test: setup-dev browser postgres
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# The slow tests CI still runs after `make test`: two servers on one PostgreSQL (votes, sessions,
# SIGKILL mid-burst), a renga session in the browser with the real model and a server restart,
# a killed and resumed training run, a trained model directory served without its base, DPO end to end.
INTEGRATION := tests/store/test_two_instances.py tests/web/test_session_browser.py \
	tests/training/test_resume.py tests/serving/test_model_dir.py tests/training/test_dpo.py

test-integration: setup-dev browser postgres
	$(BIN)/python -m pytest -m slow $(INTEGRATION) $(PYTEST_ARGS)

test-all: setup-dev browser postgres
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup-dev
	$(BIN)/ruff check tsukeku tests benchmarks
	$(BIN)/lint-imports

demo: setup
	$(BIN)/tsukeku demo

bench: bench-prosody bench-train bench-compose bench-serve bench-link bench-renga

bench-prosody: setup
	$(BIN)/python benchmarks/bench_prosody.py

bench-train: setup
	$(BIN)/python benchmarks/bench_train.py

bench-compose: setup
	$(BIN)/python benchmarks/bench_compose.py

bench-serve: setup
	$(BIN)/python benchmarks/bench_serve.py

bench-renga: setup
	$(BIN)/python benchmarks/bench_renga.py

bench-link: setup
	$(BIN)/python benchmarks/bench_link.py

bench-prefs: setup
	$(BIN)/python benchmarks/bench_prefs.py

bench-session: setup
	$(BIN)/python benchmarks/bench_session.py

bench-store: setup postgres
	$(BIN)/python benchmarks/bench_store.py

# One CUDA GPU, no network (so no `setup` step): .venv's Python when there is one, else the
# Python on PATH with the project installed. Without CUDA it says so and exits 0.
bench-gpu:
	$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) benchmarks/bench_gpu.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
