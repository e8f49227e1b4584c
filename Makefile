# evalhub: `make run` starts a working instance, `make test` runs the suite.
# Both set everything up on a fresh machine with Python 3.11+.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: install run migrate demo test test-fast lint format check bench e2e clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "evalhub needs Python 3.11+"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	DEBUG=$${DEBUG:-true} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-true} $(PY) manage.py createcachetable

demo: migrate
	DEBUG=$${DEBUG:-true} $(PY) manage.py seed_demo

# Web server and a django-q2 cluster together; Ctrl-C stops both.
run: demo
	@echo ""
	@echo "  evalhub is starting at  http://127.0.0.1:$(PORT)/"
	@echo "  log in as  demo / demo   (also: analyst / analyst, viewer / viewer)"
	@echo "  admin:     http://127.0.0.1:$(PORT)/admin/    API docs: http://127.0.0.1:$(PORT)/api/docs/"
	@echo ""
	PATH="$(CURDIR)/$(BIN):$$PATH" DEBUG=$${DEBUG:-true} PORT=$(PORT) $(BIN)/honcho -f Procfile start

# pytest reads DJANGO_SETTINGS_MODULE from the environment before pyproject.toml:
# force the test settings so an exported production module can't leak in.
test: install
	DJANGO_SETTINGS_MODULE=evalhub.settings_test $(PY) -m pytest $(PYTEST_ARGS)

# Everything but the browser and real-process fault tests.
test-fast: install
	DJANGO_SETTINGS_MODULE=evalhub.settings_test $(PY) -m pytest -m "not e2e and not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: install
	DEBUG=$${DEBUG:-true} $(PY) manage.py check
	DEBUG=$${DEBUG:-true} $(PY) manage.py makemigrations --check --dry-run

# Benchmarks (PostgreSQL + Redis on this machine); SCENARIOS='1 2' to pick, QUICK=1 for small N.
$(VENV)/.bench-installed: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(PY) -m bench $(SCENARIOS) $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles .pytest_cache .ruff_cache
