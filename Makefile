# waltport: two commands for a newcomer (see README): `make demo` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
export SOURCE_DATE_EPOCH ?= 1700000000

.PHONY: bootstrap demo test lint clean

bootstrap:
	@./scripts/bootstrap.sh

demo: bootstrap
	@$(PY) -m waltport.demo

test: bootstrap
	@$(VENV)/bin/ruff check waltport tests benchmarks
	@$(VENV)/bin/mypy waltport
	@$(PY) -m pytest -q $(PYTEST_ARGS)

lint: bootstrap
	@$(VENV)/bin/ruff check waltport tests benchmarks
	@$(VENV)/bin/mypy waltport

clean:
	rm -rf build reports/demo .pytest_cache
