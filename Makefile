# perfectws: every target installs what it needs into .venv first.
#   make demo    run examples/echo_server.py (http://localhost:8181/)
#   make chat    run examples/chat_server.py (http://localhost:8181/)
#   make test    the test suite (the command the README and CI run)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8181

.PHONY: venv demo chat test test-slow chromium redis lint style types check autobahn autobahn-deflate tornado-matrix bench bench-quick clean

$(STAMP): setup.cfg setup.py
	@echo "== installing perfectws and its test tools into $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(PY) examples/echo_server.py --port $(PORT)

chat: venv
	$(PY) examples/chat_server.py --port $(PORT)

# The browser test needs Chromium; this installs Debian's package when run as
# root and none is found (otherwise that test skips and says how to get it).
chromium:
	@sh scripts/chromium.sh >/dev/null || echo "(no Chromium: tests/test_browser.py will skip)"

# The fan-out and chat tests need redis-server (they start their own on a free
# port); this installs Debian's package when run as root and none is found.
redis:
	@sh scripts/redis.sh >/dev/null || echo "(no redis-server: the Redis tests will skip)"

test: venv chromium redis
	$(PY) -m pytest

test-slow: venv
	$(PY) -m pytest -m slow

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

style: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

types: venv
	$(VENV)/bin/mypy --strict perfectws examples

check: lint types test

# Both runs happen even if the first fails; either failing fails the target.
autobahn: venv
	bash scripts/install-autobahn.sh .autobahn
	@status=0; \
	$(PY) scripts/autobahn.py || status=1; \
	$(PY) scripts/autobahn.py --tls || status=1; \
	exit $$status

# permessage-deflate on: 1.*-10.* again plus 12.* and 13.* (about 8 minutes more).
autobahn-deflate: venv
	bash scripts/install-autobahn.sh .autobahn
	$(PY) scripts/autobahn.py --deflate --report-dir reports/autobahn-deflate

# The socket hand-over against every Tornado release _takeover.py names.
tornado-matrix:
	bash scripts/tornado-matrix.sh

bench: venv redis
	$(PY) bench/run.py

bench-quick: venv redis
	$(PY) bench/run.py --quick

clean:
	rm -rf $(VENV) build *.egg-info perfectws/*.so reports bench/out .pytest_cache .mypy_cache .ruff_cache
