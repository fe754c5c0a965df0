# Entry points. Each target installs the Debian packages it needs (see
# scripts/install-deps) and builds what is out of date first, so `make test`
# and `make demo` work from a fresh clone.

BUILD_DIR  ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
# Test processes run in parallel; integration tests start ~10 node processes
# each, so keep this low enough that they do not starve each other.
TEST_JOBS  ?= 2

BIN_ENV = ONIONSWARM_NODE_BIN=$(abspath $(BUILD_DIR))/node/onionswarm-node \
          ONIONSWARM_CLI_BIN=$(abspath $(BUILD_DIR))/cli/onionswarm

.PHONY: all deps configure build programs test demo clean

all: build

deps:
	bash scripts/install-deps

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

# Only the two programs: the node and the CLI (what the demo runs). On a
# fresh 2-core machine this is about a third of the whole build, which adds
# the tests and the benchmarks.
programs: configure
	cmake --build $(BUILD_DIR) -j$(JOBS) --target onionswarm-node onionswarm

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j$(TEST_JOBS)

demo: programs
	$(BIN_ENV) bash scripts/demo

clean:
	rm -rf $(BUILD_DIR)

# Debian package via CPack: build/onionswarm_<version>_<arch>.deb
.PHONY: deb
deb: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=/usr
	cmake --build $(BUILD_DIR) -j$(JOBS)
	cd $(BUILD_DIR) && cpack -G DEB
	@ls -1 $(BUILD_DIR)/*.deb
