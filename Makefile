# gpt-lesson: `make book` installs everything and builds the book; `make test` runs every test.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
BOOK_BUILD := $(BIN)/jupyter-book build . --config book/_config.yml --toc book/_toc.yml --path-output book
PARALLEL := -n 2 --dist loadgroup --no-loadscope-reorder
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install book lab test lint notebooks clean

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
test: install
	$(BIN)/python -m pytest $(PARALLEL) tests notebooks --nbval --nbval-current-env

# Re-execute every chapter in place under the current profile (what the stored outputs are).
notebooks: install
	for notebook in notebooks/*.ipynb; do \
		$(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$notebook" || exit 1; \
	done

clean:
	rm -rf book/_build
