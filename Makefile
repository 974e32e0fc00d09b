# Two commands on a fresh machine: `make demo` and `make test`. Each sets itself up first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.vnseg-setup-done
PYTEST_ARGS ?=

.PHONY: setup lint test demo clean-demo

setup: $(STAMP)

$(STAMP): tools/setup_env.sh setup.py requirements/runtime.txt requirements/tests.txt requirements/constraints.txt
	VENV=$(VENV) bash tools/setup_env.sh
	touch $@

lint: setup
	$(VENV)/bin/ruff check .

test: setup
	$(PY) -m pytest tests $(PYTEST_ARGS)

demo: setup
	$(PY) tools/demo.py --work-dir work_dirs/demo

clean-demo:
	rm -rf work_dirs/demo
