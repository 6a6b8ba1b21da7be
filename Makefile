# Bac e-Services. `make demo` runs the system; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANAGE := DEBUG=true $(BIN)/python manage.py
PG_URL ?= postgres://postgres@127.0.0.1:5432/bac
REDIS_TEST_URL ?= redis://127.0.0.1:6379/10
# Benchmarks create and drop their own throw-away databases through this server.
BENCH_PG_URL ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: demo install ocr-tools test test-pg test-browser lint format bench lock messages clean \
	prod prod-stop test-prod

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt ".[test]"
	touch $(STAMP)

install: $(STAMP) ocr-tools

# Reading the CNIE's zone needs Debian's tesseract-ocr (fonts-ocr-b draws the test cards).
# Installed when missing and possible (root, apt-get); otherwise the OCR tests skip and say why.
OCR_PACKAGES := tesseract-ocr fonts-ocr-b
ocr-tools:
	@if command -v tesseract >/dev/null 2>&1 && [ -e /usr/share/fonts/opentype/ocr-b/OCRB.otf ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq $(OCR_PACKAGES) >/dev/null 2>&1 \
	  || { apt-get update -qq && apt-get install -y -qq $(OCR_PACKAGES) >/dev/null; } \
	  || echo "note: could not install $(OCR_PACKAGES); the OCR tests will be skipped"; \
	else \
	  echo "note: $(OCR_PACKAGES) missing (sudo apt-get install $(OCR_PACKAGES)); the OCR tests will be skipped"; \
	fi

demo: $(STAMP)
	$(MANAGE) migrate --noinput -v0
	$(MANAGE) seed --demo-data --candidates $${CANDIDATES:-2000}
	@echo
	@echo "Bac e-Services runs on http://127.0.0.1:8000/ (Ctrl-C to stop)."
	$(MANAGE) runserver 127.0.0.1:8000

test: $(STAMP) ocr-tools
	$(BIN)/pytest -q -n 2 --dist loadfile $(PYTEST_ARGS)

# The same suite against PostgreSQL and Redis on loopback.
test-pg: $(STAMP) ocr-tools
	DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_TEST_URL) $(BIN)/pytest -q -n 2 --dist loadfile $(PYTEST_ARGS)

test-browser: $(STAMP)
	$(BIN)/pytest -q -m browser $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks against PostgreSQL and Redis on loopback; each prints its figures side by side.
bench: $(STAMP)
	DATABASE_URL=$${DATABASE_URL:-$(BENCH_PG_URL)} $(BIN)/python bench/import_candidates.py
	DATABASE_URL=$${DATABASE_URL:-$(BENCH_PG_URL)} $(BIN)/python bench/compute_results.py
	$(BIN)/python bench/results_day.py
	DATABASE_URL=$${DATABASE_URL:-$(BENCH_PG_URL)} $(BIN)/python bench/verification.py
	DATABASE_URL=$${DATABASE_URL:-$(BENCH_PG_URL)} $(BIN)/python bench/convocations.py
	DATABASE_URL=$${DATABASE_URL:-$(BENCH_PG_URL)} $(BIN)/python bench/complaints.py
	$(BIN)/python bench/scholarships.py
	$(BIN)/python bench/diplomas.py
	DATABASE_URL=$${DATABASE_URL:-$(BENCH_PG_URL)} $(BIN)/python bench/diplomas.py --database --candidates 500000

# The production stack on loopback (deploy/prod.py, docs/deployment.md): PostgreSQL, Redis,
# RabbitMQ (or Redis) as broker, gunicorn, a Celery worker, Celery beat and nginx on
# http://127.0.0.1:8080/. `make prod-stop` stops exactly what `make prod` started.
prod: $(STAMP)
	$(BIN)/python deploy/prod.py start

prod-stop:
	$(BIN)/python deploy/prod.py stop

# The stack's tests (tests/ops, marked prod): smoke of every journey through nginx, the faults
# (on private Redis/PostgreSQL instances the tests start) and the backup round trip.
test-prod: $(STAMP)
	$(MAKE) prod
	$(BIN)/pytest -q -m prod -p no:randomly tests/ops $(PYTEST_ARGS); status=$$?; \
	$(MAKE) prod-stop; exit $$status

# Apps with a catalogue of their own (<app>/locale) keep their strings out of the shared one.
APP_CATALOGUES := $(patsubst %/locale,%,$(wildcard */locale))
messages: $(STAMP)
	$(MANAGE) makemessages -l ar -l fr -l en --ignore=.venv --ignore=tests --ignore=bench \
	  --ignore=staticfiles $(foreach app,$(APP_CATALOGUES),--ignore=$(app))
	for app in $(APP_CATALOGUES); do \
	  (cd $$app && DJANGO_SETTINGS_MODULE=bac.settings DEBUG=true PYTHONPATH=.. \
	   ../$(BIN)/django-admin makemessages -l ar -l fr -l en) || exit 1; \
	done
	$(MANAGE) compilemessages --ignore=.venv

lock: $(BIN)/python
	$(BIN)/pip freeze --exclude-editable | grep -v '^bac-eservices' > constraints.txt

clean:
	rm -rf $(VENV) var staticfiles
