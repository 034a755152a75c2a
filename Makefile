# The two commands of the course: `make test` and `make course`.
# Each works on a fresh machine with only python3 and make: it creates .venv,
# installs the project with its [dev] extra (skipped when pyproject.toml is unchanged),
# then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test course venv clean bench lint system axe redteam-serial student-wheel hub hub-down

# System packages (bubblewrap for the grading sandbox, chromium for the browser tests):
# installed when missing, like the venv (scripts/system_setup.sh says what and why).
system:
	bash scripts/system_setup.sh

venv: $(STAMP)

# axe-core for the accessibility test, pinned, from npm into /var/cache/emcourse-axe
# (EMCOURSE_AXE_CACHE): scripts/install_axe.py; does nothing when it is there.
axe: $(STAMP) system
	$(BIN)/python scripts/install_axe.py

$(STAMP): pyproject.toml | system
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# nbval runs the lectures on OpenBLAS's Sandybridge kernels wherever the CPU has AVX, not on
# the machine's own: the committed outputs were executed on some other machine's kernels, so
# a printed digit that depends on them (rounding, an optimiser's path) fails here, on every
# machine, rather than only on a CI machine with a different CPU.
NBVAL_BLAS := $(shell grep -qsw avx /proc/cpuinfo && echo OPENBLAS_CORETYPE=Sandybridge)

# The unit and integration tests, then nbval on every lecture (outputs must match). Two
# pytest workers, each taking whole files (--dist loadfile: a file's module fixtures, such as
# the red-team class or the trial hub, are set up once): most of the suite waits on kernels,
# sandboxes, hubs and Dask rather than computing, so two cores run two files at once.
test: $(STAMP) system axe
	$(BIN)/python -m pytest tests -n 2 --dist loadfile --durations=30
	if ls lectures/*.ipynb >/dev/null 2>&1; then \
	  $(NBVAL_BLAS) $(BIN)/python -m pytest --nbval lectures \
	    --nbval-sanitize-with lectures/sanitize.cfg; fi

# The red-team class through the serial `nbgrader autograde "*"` (make test grades it with
# the parallel command; both run nbgrader's Autograde with the same sandbox).
redteam-serial: $(STAMP) system
	EMCOURSE_REDTEAM_GRADER=nbgrader $(BIN)/python -m pytest tests/test_redteam.py

# The students' environment: emref and emcourse_student, nothing of the grader
# (scripts/student_wheel.py; docs/teaching.md installs it on a hub).
student-wheel: $(STAMP)
	$(BIN)/python scripts/student_wheel.py _build/wheels

# A trial class on this machine, as root (scripts/hub.py, docs/teaching.md "A trial class"):
# JupyterHub on 127.0.0.1 with PAM accounts, the private course, the two venvs, the exchange.
# Writes _build/hub/hub.json (URL, accounts and passwords). hub-down removes all of it.
hub: $(STAMP) system
	$(BIN)/python scripts/hub.py up

hub-down:
	$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) scripts/hub.py down

course: $(STAMP) system
	$(BIN)/python scripts/course.py

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check emref emcourse_grader tests bench scripts

clean:
	rm -rf _build autograded submitted feedback gradebook.db .pytest_cache
