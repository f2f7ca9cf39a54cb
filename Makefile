# AI Infra Matrix. `make run` starts the portal; `make test` runs the whole suite against real
# services. Every target installs what it needs first (idempotent).
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help install run test lab lab-down bench screenshots clean vendor

help:
	@echo "make run       install, migrate, create the admin, start web + worker + beat"
	@echo "make test      start PostgreSQL + Redis and run the whole test suite"
	@echo "make lab       bring up the local lab services and register them"
	@echo "make lab-down  stop the lab"
	@echo "make bench     run the benchmarks, JSON results under bench/results/"
	@echo "make screenshots  main pages at desktop and phone width into var/screenshots/"
	@echo "make install   install apt packages (as root), .venv and requirements"
	@echo "make vendor    re-fetch the pinned front-end packages from npm into static/vendor/"

install:
	scripts/install.sh test

run:
	scripts/run.sh

test:
	scripts/test.sh $(ARGS)

lab:
	scripts/lab.sh up

lab-down:
	scripts/lab.sh down

bench:
	scripts/bench.sh $(ARGS)

screenshots:
	scripts/screenshots.sh $(ARGS)

vendor:
	python3 scripts/vendor_assets.py

clean:
	rm -rf var/test var/bench var/screenshots-services staticfiles
