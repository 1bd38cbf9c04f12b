# The two commands of README.md: `make demo` (the main job) and `make test` (the test suite).
# Both create .venv and install everything on first use.
.PHONY: setup demo test bench lint format

setup:
	@bash scripts/setup.sh

demo: setup
	HF_HUB_OFFLINE=1 .venv/bin/python examples/demo.py $(ARGS)

test: setup
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 .venv/bin/python -m pytest -q tests $(ARGS)

bench: setup
	HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.run --record $(ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .
