# initlab: `make run` sets up .venv (pinned) and runs the main job; `make test` runs the tests.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= quick

.PHONY: setup run test test-slow lint bench report experiment reproduce-quick reproduce-all \
	rehearse plan notebooks clean-outputs help

help:
	@echo "make run          set up .venv and run the main job (python train.py) on embedded digits"
	@echo "make test         set up .venv and run the test suite"
	@echo "make test-slow    the long tests (pytest -m slow)"
	@echo "make lint         ruff check + format check"
	@echo "make bench        benchmarks -> benchmarks/results/*.json"
	@echo "make experiment NAME=<exp> [PROFILE=quick|full] [key=value ...]   one experiment's sweep"
	@echo "                  + collect; key=value (or ARGS='k=v ...') are Hydra overrides"
	@echo "make report       figures and results/**/REPORT.md from the results CSVs (no training);"
	@echo "                  WANDB=offline|online also logs the report and figures to W&B"
	@echo "make reproduce-quick   every experiment at CPU scale on embedded data, then the report"
	@echo "make reproduce-all [LAUNCHER=slurm]   the paper-scale profile (needs the real data sets)"
	@echo "  FORCE=1 re-runs finished runs (earlier outputs are moved aside, not deleted)"
	@echo "make rehearse     every paper-scale run at its paper size on synthetic files in the real"
	@echo "                  formats, a few steps each (CPU); results/rehearsal/ with costs.csv"
	@echo "make plan         what the paper-scale profile costs, per experiment (from the rehearsal)"
	@echo "make notebooks    run notebooks/*.py headless on results/$(PROFILE) (NB_RESULTS=...)"

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements.txt
	$(VENV)/bin/pip install --disable-pip-version-check -q --no-deps -r requirements-nodeps.txt
	$(VENV)/bin/pip install --disable-pip-version-check -q --no-deps -e .
	@touch $@

setup: $(STAMP)

run: $(STAMP)
	$(PY) train.py

test: $(STAMP)
	$(PY) -m pytest

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(VENV)/bin/pip install --disable-pip-version-check -q --no-deps -r benchmarks/requirements.txt
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# make's own variables; any other NAME=VALUE on make's command line is a Hydra override
# (make experiment NAME=b4_distance_ratio 'seed=range(0,2)' model.width=64), as are ARGS='...'
MAKE_VARS := NAME PROFILE ARGS FORCE LAUNCHER PYTHON VENV PY STAMP NB_RESULTS MAKEFLAGS
HYDRA_VARS = $(filter-out $(MAKE_VARS),$(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $(v))),$(v))))
HYDRA_ARGS = $(foreach v,$(sort $(HYDRA_VARS)),'$(v)=$(value $(v))') $(ARGS)

experiment: $(STAMP)
	@test -n "$(NAME)" || (echo "usage: make experiment NAME=<conf/experiment name> [PROFILE=quick|full] [key=value ...] [ARGS='...']"; exit 2)
	$(PY) scripts/run_experiment.py $(NAME) --profile $(PROFILE) $(HYDRA_ARGS)

FORCE_FLAG := $(if $(filter 1,$(FORCE)),--force,)
LAUNCHER_FLAG := $(if $(LAUNCHER),--launcher $(LAUNCHER),)

reproduce-quick: $(STAMP)
	$(PY) scripts/reproduce.py --profile quick $(FORCE_FLAG)
	$(MAKE) report

reproduce-all: $(STAMP)
	$(PY) scripts/reproduce.py --profile full $(FORCE_FLAG) $(LAUNCHER_FLAG)
	$(MAKE) report

rehearse: $(STAMP)
	$(PY) scripts/reproduce.py --profile rehearsal $(FORCE_FLAG)
	$(MAKE) report

plan: $(STAMP)
	$(PY) scripts/reproduce.py --profile full --plan

report: $(STAMP)
	MPLBACKEND=Agg $(PY) scripts/make_report.py results $(if $(WANDB),--wandb $(WANDB),)

NB_RESULTS ?= results/$(PROFILE)

NB_OUT ?= outputs/notebooks

# each notebooks/*.py (jupytext) is executed as a notebook by a Jupyter kernel; the executed
# copies, with their outputs and inline figures, go to $(NB_OUT) (git-ignored), not beside the
# sources
notebooks: $(STAMP)
	@mkdir -p $(NB_OUT)
	@for nb in notebooks/[!_]*.py; do \
		echo "== $$nb -> $(NB_OUT)/$$(basename $$nb .py).ipynb"; \
		INITLAB_RESULTS=$(abspath $(NB_RESULTS)) INITLAB_PROFILE=$(PROFILE) \
			$(PY) -m jupytext --to ipynb --execute --run-path $(CURDIR)/notebooks --output $(NB_OUT)/$$(basename $$nb .py).ipynb $$nb \
			|| exit 1; \
	done

clean-outputs:
	rm -rf outputs multirun
