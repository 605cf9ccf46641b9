# syslab: every target uses the project's venv; nobody has to activate it.
# Adding a server or an experiment adds no lines here: the pattern rules find them.

PY      := .venv/bin/python
STAMP   := .venv/.syslab-installed

.PHONY: help setup test lint demo list bench report clean redis-tests
.DEFAULT_GOAL := help

# `make` alone, or `make help`: the commands, the servers and the experiments (no setup needed).
help:
	@python3 -m servers.catalog --make-help

setup:
	@bash mk/setup.sh

# `make test` sets up only when something is missing or pyproject.toml changed.
test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check netlib harness servers clients storage bench tests
	$(PY) -m mypy netlib harness servers clients storage bench

demo: setup
	$(PY) -m servers.supervisor

list: setup
	@$(PY) -m servers.catalog

report: setup
	@$(PY) -m servers.report

serve-%: setup
	$(PY) -m servers.$* $(ARGS)

bench-%: setup
	$(PY) -m bench.$* $(ARGS)

bench: setup
	$(PY) -m bench.all $(ARGS)

load-%: setup
	$(PY) -m bench.load $* $(ARGS)

# Redis's own TCL test units against the cache and a real redis-server (REDIS_SRC=... or apt-get source).
redis-tests: setup
	$(PY) -m bench.redis_suite $(ARGS)

clean:
	rm -rf .run bench/results .pytest_cache .hypothesis
