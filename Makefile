.PHONY: run test setup lint format typecheck unit integration bench-ingress bench-streams bench-query bench-usage bench-e2e clean

# Fresh machine → whole service running locally (Ctrl-C stops everything).
run:
	bash scripts/run-local.sh

# Fresh machine → lint, type check and the whole test suite against the real components.
test:
	bash scripts/test.sh

setup:
	bash scripts/bootstrap.sh

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

typecheck:
	.venv/bin/mypy

unit:
	.venv/bin/python -m pytest tests/unit -q

integration:
	.venv/bin/python -m pytest tests/integration -q

bench-ingress:
	.venv/bin/python bench/ingress_bench.py

bench-streams:
	.venv/bin/python bench/streams_bench.py

bench-query:
	.venv/bin/python bench/query_bench.py

bench-usage:
	.venv/bin/python bench/usage_bench.py

bench-e2e:
	.venv/bin/python bench/e2e_bench.py

clean:
	rm -rf .quivly test-artifacts .pytest_cache .mypy_cache .ruff_cache
