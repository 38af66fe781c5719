# Two entry points on a fresh Debian/Ubuntu machine with Python 3.11: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup system demo test lint typecheck proto clean

# Debian packages the tests need beyond Python: the native client core (C++, libzmq, msgpack,
# Catch2), the C# core under Mono with NUnit, and the speech engines the corpus builder drives.
APT_PACKAGES := cmake g++ pkg-config libzmq3-dev cppzmq-dev libmsgpack-cxx-dev catch2 \
	libturbojpeg0-dev mono-mcs mono-devel nunit-console festival flite festvox-kallpc16k \
	festvox-kdlpc16k festvox-us-slt-hts chromium

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/lpm demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

# Installs the missing Debian packages (as root, or through sudo).
system:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing $$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

test: system lint typecheck
	$(BIN)/pytest -q

# Regenerate the gRPC stubs (pinned grpcio-tools in the dev extras, so the output is reproducible).
proto: setup
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. bridge/lpm/v1/lpm.proto

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
