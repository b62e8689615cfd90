# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.docs-installed

.PHONY: run test lint format install provision bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: any unpinned request could pull a multi-GB CUDA build.
	$(BIN)/pip install --disable-pip-version-check -q torch==$(TORCH_VERSION)
	$(BIN)/pip install --disable-pip-version-check -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/topoae compare --dataset spheres --seeds 1 --out runs/spheres-compare

# System tools the tests need (a headless Chromium); installs it when missing and allowed,
# else stops with the command to run. Python tools (ffmpeg via imageio-ffmpeg) come with .[test].
provision:
	scripts/provision.sh

test: $(STAMP) lint provision
	$(BIN)/python -m pytest -q

# .pre-commit-config.yaml runs the same four checks.
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks scripts
	$(BIN)/ruff check --fix src tests benchmarks scripts

bench: $(STAMP)
	$(BIN)/topoae bench

$(DOCS_STAMP): $(STAMP)
	$(BIN)/pip install --disable-pip-version-check -q -e ".[docs]"
	touch $(DOCS_STAMP)

# The documentation site (mkdocs.yml): warnings are errors; open site/index.html.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) runs site .pytest_cache .ruff_cache .mypy_cache
