# Quick start: `make run` (install, build the database, serve) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install init-db check-content bench clean browser screenshots

$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

init-db: $(STAMP)
	$(PY) -m bot init-db

check-content: $(STAMP)
	$(PY) -m bot check-content

run: init-db
	$(PY) -m bot serve --with-scheduler

# The browser tests drive Debian's chromium (Playwright's own download needs the internet).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) browser
	$(PY) -m bot check-content
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/engine_bench.py
	$(PY) bench/webhook_bench.py
	$(PY) bench/push_bench.py
	$(PY) bench/relay_bench.py

screenshots: $(STAMP) browser
	$(PY) tests/e2e/screenshots.py

clean:
	rm -rf $(VENV) var .pytest_cache
