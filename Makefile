# Two commands: `make run` (the app, offline on embedded data) and `make test` (the whole suite).
VENV ?= .venv
# Python 3.11 by default; 3.12 (Community Cloud's default) too: make test PYTHON=python3.12 VENV=.venv312
PYTHON ?= python3.11
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test browser-deps screenshots

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m streamlit run streamlit_app.py

# Debian's Chromium (+ an emoji font) for the browser tests. apt waits for a lock that another
# apt holds (up to 10 min) instead of failing at once; without chromium those tests are skipped,
# and both this step and pytest (-rs) say so.
APT := apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  ok=; for i in 1 2 3; do \
	    if $$SUDO $(APT) update -qq && $$SUDO $(APT) install -y -qq chromium fonts-noto-color-emoji >/dev/null; \
	    then ok=1; break; fi; echo "apt failed (try $$i of 3), retrying in 20 s"; sleep 20; \
	  done; \
	  [ -n "$$ok" ] || echo "*** chromium could not be installed: the BROWSER TESTS WILL BE SKIPPED ***"; \
	fi

# on 2 workers (pytest-xdist): the tests wait on servers, browsers and subprocesses as often as
# they compute, so two at a time keep this 2-core machine busy (see tests/conftest.py)
test: $(STAMP) browser-deps
	$(PY) -m pytest -q -n 2 --dist loadgroup

# Re-take the README's screenshots from a real run.
screenshots: $(STAMP) browser-deps
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q -m browser
