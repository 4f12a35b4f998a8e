# Two commands on a fresh machine: `make demo` and `make test`.
#
# Every install is pinned by constraints.txt (pip constraints, build back-end included), so a new
# release elsewhere cannot break a fresh clone. `make constraints` refreshes the pins from the
# newest releases that pyproject.toml's ranges allow; `make test-latest` runs the suite against
# those newest releases in a separate venv, so an upgrade is seen before it is suffered.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
DEMO_OUT ?= demo-out
CONSTRAINTS := $(abspath constraints.txt)
EXTRAS_ALL  := test,service,bench,lint
PIN := PIP_CONSTRAINT=$(CONSTRAINTS)
# the suite runs on every core (pytest-xdist); a test file stays on one worker (its fixtures, its
# servers and the PostgreSQL tables of test_store.py are not shared between workers)
TEST_WORKERS ?= auto
PYTEST := -m pytest -q -n $(TEST_WORKERS) --dist loadfile

.PHONY: demo test lint venv venv-test clean bench constraints test-latest wheel-check

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIN) $(PIP) install -q --upgrade pip
	$(PIN) $(PIP) install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml constraints.txt
	$(PIN) $(PIP) install -q -e '.[test,lint]'
	touch $@

venv: $(VENV)/.installed
venv-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(VENV)/bin/goldenvision demo --out $(DEMO_OUT)

test: $(VENV)/.installed-test
	$(PY) $(PYTEST)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check goldenvision tests scripts
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	$(PIN) $(PIP) install -q -e '.[bench]'
	$(PY) scripts/bench.py

# Build the wheel, install it into a fresh venv outside the checkout and run the demo from there:
# proves the wheel carries its models and station profiles.
wheel-check:
	bash scripts/wheel_check.sh

# Refresh the pins: newest releases allowed by pyproject.toml, resolved in a throw-away venv.
constraints:
	rm -rf .venv-pins
	$(PYTHON) -m venv .venv-pins
	.venv-pins/bin/pip install -q --upgrade pip setuptools
	.venv-pins/bin/pip install -q '.[$(EXTRAS_ALL)]'
	{ echo "# pip constraints for every install (make demo/test, CI). Refresh: make constraints"; \
	  .venv-pins/bin/pip freeze --all --exclude goldenvision | grep -v '^pip=='; } > constraints.txt
	rm -rf .venv-pins

# The suite against the newest releases (no constraints), in its own venv.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/pip install -q --upgrade pip
	PIP_CONSTRAINT= .venv-latest/bin/pip install -q --upgrade -e '.[test]'
	.venv-latest/bin/pip freeze | grep -iE '^(numpy|opencv-python|scipy|onnxruntime|colour-science|pydantic)=='
	.venv-latest/bin/python $(PYTEST)

clean:
	rm -rf $(VENV) .venv-latest .venv-pins $(DEMO_OUT) .pytest_cache dist build
