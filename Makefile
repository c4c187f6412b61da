# Two commands do everything on a fresh machine with only Python:
#   make run   - Synapse (SQLite) with Borough's modules, the example org chart applied
#   make test  - the whole suite, including integration tests against a real Synapse
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install run test lint bench clean vendor docs-images

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) scripts/run.py

# The browser test's widget host (matrix-widget-api) comes from the npm registry; npm and
# Debian's chromium are installed first when missing and this user may, else one line says how.
NODE_DEPS := tests/browser/node_modules/.package-lock.json
$(NODE_DEPS): tests/browser/package.json tests/browser/package-lock.json
	@scripts/ensure-test-tools.sh
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

# Element's Compound design tokens, as locked: the test that the committed copy in
# widgets/static/vendor/compound/ is theirs compares it with this install.
FRONTEND_DEPS := widgets/frontend/node_modules/.package-lock.json
$(FRONTEND_DEPS): widgets/frontend/package.json widgets/frontend/package-lock.json
	@scripts/ensure-test-tools.sh
	npm ci --prefix widgets/frontend --ignore-scripts --no-audit --no-fund --loglevel=error

# Re-copy the tokens after changing their version in widgets/frontend/package.json; commit.
vendor: install
	$(PY) scripts/vendor_compound.py

# docs/images/ from the browser tests' screenshots (scripts/docs_screenshots.py says which).
docs-images: install $(NODE_DEPS)
	@scripts/ensure-test-tools.sh
	$(PY) -m pytest tests/browser -q
	$(PY) scripts/docs_screenshots.py

test: install $(NODE_DEPS) $(FRONTEND_DEPS)
	@scripts/ensure-test-tools.sh
	$(PY) -m pytest $(PYTEST_ARGS)

# mypy --strict over the shipped packages: the `[tool.mypy]` section of pyproject.toml.
lint: install
	$(PY) -m ruff check borough provisioning synapse_modules bots widgets management tests bench scripts
	$(PY) -m ruff format --check borough provisioning synapse_modules bots widgets management tests bench scripts
	$(PY) -m mypy

bench: install
	$(PY) bench/provision.py --people 300 --units 30

clean:
	rm -rf $(VENV) var
