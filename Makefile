# The two commands a newcomer runs: `make run` and `make test`.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test unit fuzz bench-integrity format clean package test-package

all: build

deps:
	@scripts/install-deps

$(BUILD_DIR)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/Makefile
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The manager and an agent protecting demo/www with demo/policy.yaml, until Ctrl-C. Builds only the
# two programs it runs (not the tests), so a newcomer's first run takes minutes.
run: deps $(BUILD_DIR)/Makefile
	cmake --build $(BUILD_DIR) -j $(JOBS) --target ward-agent ward-manager
	scripts/demo-run

# ward-agent_<version>_amd64.deb and ward-manager_<version>_amd64.deb in $(BUILD_DIR)/packages
# (docs/packaging.md). Builds only the two programs, like `make run`.
package: deps $(BUILD_DIR)/Makefile
	cmake --build $(BUILD_DIR) -j $(JOBS) --target ward-agent ward-manager
	packaging/build-debs $(BUILD_DIR) $(BUILD_DIR)/packages

# The packages' checks: lintian, systemd-analyze verify, the units' sandboxing, install, upgrade
# with events flowing, remove, purge in a throw-away root (docs/packaging.md). .ci/run runs it.
test-package: package
	packaging/test-packages $(BUILD_DIR)

# Every test through CTest, ending with CTest's summary.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

unit: build
	cd $(BUILD_DIR) && ctest -L unit --output-on-failure -j $(JOBS)

fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWARD_FUZZ=ON \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
	cmake --build build-fuzz -j $(JOBS) --target fuzzers
	scripts/run-fuzzers build-fuzz

bench-integrity: build
	bench/integrity/run.sh

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) build-fuzz
