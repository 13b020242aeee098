# The two entry points of the README: `make demo` and `make test`.
.PHONY: demo test lint format setup bench

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/python examples/demo.py --ui

test:
	bash scripts/test.sh

lint: setup
	.venv/bin/ruff check src tests benchmarks examples scripts
	.venv/bin/ruff format --check src tests benchmarks examples scripts

format: setup
	.venv/bin/ruff format src tests benchmarks examples scripts
	.venv/bin/ruff check --fix src tests benchmarks examples scripts
