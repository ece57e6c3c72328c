# gpt-lesson: `make book` installs everything and builds the book; `make test` runs every test
# (chapters under the quick profile); `make test-stored` re-checks the stored chapter outputs.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
BOOK_BUILD := $(BIN)/jupyter-book build . --config book/_config.yml --toc book/_toc.yml --path-output book
PARALLEL := -n 2 --dist loadgroup --no-loadscope-reorder
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install book lab test test-stored chromium doctor lint notebooks clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

book: install
	$(BOOK_BUILD)
	@echo "The book is at book/_build/html/index.html"

lab: install
	$(BIN)/jupyter lab --notebook-dir=. $(ALLOW_ROOT) notebooks/01_tokenization.ipynb

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two worker processes (pytest-xdist), one file at a time each; conftest.py groups them.
# The chapters run under the quick profile unless GPT_LESSON_PROFILE names another.
test: export GPT_LESSON_PROFILE ?= quick
test: install chromium
	$(BIN)/python -m gpt_lesson doctor
	$(BIN)/python -m pytest $(PARALLEL) tests notebooks --nbval --nbval-current-env

# Every chapter re-executed under the default profile and compared with its stored outputs.
test-stored: export GPT_LESSON_PROFILE = default
test-stored: install
	$(BIN)/python -m pytest $(PARALLEL) notebooks --nbval --nbval-current-env

# One line per requirement of the book and its tests, [OK] or [FAIL] with what to do.
doctor: install
	$(BIN)/python -m gpt_lesson doctor

# The browser test's Chromium: Debian's package, installed here when apt-get can (as root).
chromium:
	@if [ -n "$$GPT_LESSON_CHROMIUM" ] || command -v chromium > /dev/null || command -v chromium-browser > /dev/null; then \
		true; \
	elif command -v apt-get > /dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "Installing Debian's chromium for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null; \
	else \
		echo "The browser test needs Chromium. Install it with: sudo apt-get install -y chromium" >&2; \
		echo "or point GPT_LESSON_CHROMIUM at a Chromium or Chrome binary." >&2; \
		exit 2; \
	fi

# Re-execute every chapter in place under the current profile (what the stored outputs are),
# timed into benchmarks/results/chapters-<profile>.json.
notebooks: install
	$(BIN)/python -m benchmarks.chapters --in-place

clean:
	rm -rf book/_build
