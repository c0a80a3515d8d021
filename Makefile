# Two commands: `make run` (the app, offline on embedded data) and `make test` (the whole suite).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test browser-deps screenshots

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m streamlit run streamlit_app.py

# Debian's Chromium (+ an emoji font) for the browser test; without it that test skips.
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  ($$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null) \
	  || echo "chromium could not be installed: the browser test will be skipped"; \
	fi

test: $(STAMP) browser-deps
	$(PY) -m pytest -q

# Re-take the README's screenshots from a real run.
screenshots: $(STAMP) browser-deps
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q -m browser
