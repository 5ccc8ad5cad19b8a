# One command per chore; CI (.ci/run) calls the same ones.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
# The integration tests run real Lightning, transformers and Keras on torch. Exactly this release
# is a CPU build that pip takes from this machine's disk; any other torch request (a bare
# "torch" pulled in by lightning) downloads a multi-GB CUDA build. Installed first, so that the
# frameworks find it already satisfied.
TORCH := torch==2.13.0

.PHONY: demo test lint bench venv clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	@# the distribution was called "mlops" before it became mlops-library: drop the old one
	$(PY) -m pip uninstall --quiet --yes mlops 2>/dev/null || true
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]" "$(TORCH)"
	touch $(STAMP)

$(VENV)/.installed-examples: $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e ".[examples]"
	touch $@

venv: $(STAMP)

demo: $(VENV)/.installed-examples
	MLOPS_HOME=$${MLOPS_HOME:-$(CURDIR)/.demo-home} $(PY) examples/train_sklearn.py
	MLOPS_HOME=$${MLOPS_HOME:-$(CURDIR)/.demo-home} $(VENV)/bin/mlops iterations list --limit 20
	MLOPS_HOME=$${MLOPS_HOME:-$(CURDIR)/.demo-home} $(VENV)/bin/mlops app

# two workers (xdist) keep the suite inside CI's budget on two cores: most tests wait on an App
# process, PostgreSQL or a browser; each module stays on one worker (its fixtures are built once)
TEST_WORKERS ?= 2

# Bytecode is compiled once and kept: where PYTHONDONTWRITEBYTECODE is set (as on these CI
# machines) every App process and CLI run of the suite would otherwise compile mlops' sources
# again (about 0.4 s of CPU each, hundreds of times)
test: $(STAMP)
	$(PY) -m compileall -q src
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadscope

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .demo-home .demo-data .pytest_cache .hypothesis
