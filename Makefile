# The two quick-start commands: `make run` and `make test` (see README.md).
# Both create .venv on first use and install exactly the locked set into it: requirements.lock
# (every package pinned, with hashes), then the project itself without dependencies.
# docs/development.md says how to update the lock.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
# The lock is resolved for Python 3.11 on every platform, with the test and dev extras.
LOCK_ARGS := pyproject.toml --extra test --extra dev --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" --output-file $(LOCK)

.PHONY: run test lint format clauses lock clean

# A changed lock rebuilds the environment from nothing, so no package the lock dropped stays.
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (durable-rules), found " + sys.version)'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/billing validate --quiet
	$(BIN)/billing serve

# The suite runs on TEST_WORKERS processes (pytest-xdist), each test module whole in one of
# them (its browser, its servers); TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo --no-cache

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clauses: $(STAMP)
	$(BIN)/billing clauses --write docs/clauses.md

# Re-resolve every pin to the newest release pyproject.toml allows. `make lock KEEP=1` keeps
# the existing pins and only adds what a changed pyproject.toml needs. It runs the uv of the
# .venv there is (made only if there is none): a changed pyproject.toml does not rebuild the
# environment under a test run that is using it; the next `make test` rebuilds it from the lock.
lock:
	@test -x $(BIN)/uv || $(MAKE) $(STAMP)
	$(BIN)/uv pip compile $(if $(KEEP),,--upgrade) $(LOCK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .import_linter_cache
