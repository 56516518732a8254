# Quick start: `make run` (install, build the database, serve) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install init-db check-content bench clean browser screenshots deploy-tools deploy-check

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

# deploy-check validates deploy/ with the tools that run it: Debian's nginx, systemd, openssl.
deploy-tools:
	@{ command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx; } && \
	  command -v systemd-analyze >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1 || { \
	  echo "installing Debian's nginx, systemd and openssl for the deployment tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    nginx systemd openssl >/dev/null; }

# Render deploy/ for a sample host, validate it (systemd-analyze verify, nginx -t), and run
# nginx with HTTPS in front of gunicorn with a signed WeChat message going through.
deploy-check: $(STAMP) deploy-tools
	$(PY) deploy/render.py --host fanzha.example.cn --app-dir . --out var/deploy-sample
	FANZHA_DOCKER_TEST=1 $(PY) -m pytest -q -rs tests/test_deploy.py

test: $(STAMP) browser deploy-tools
	$(PY) -m bot check-content
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(PY) bench/engine_bench.py
	$(PY) bench/webhook_bench.py
	$(PY) bench/push_bench.py
	$(PY) bench/relay_bench.py

screenshots: $(STAMP) browser
	$(PY) tests/e2e/screenshots.py

clean:
	rm -rf $(VENV) var .pytest_cache
