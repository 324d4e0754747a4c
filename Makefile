# certfleet: the two commands that matter are `make run` and `make test` (see README.md).
JOBS ?= $(shell nproc)
# CTest runs one more test than there are cores: the e2e files spend much of their time waiting on
# the servers they start (test/e2e/CMakeLists.txt: one CTest test per file).
CTEST_JOBS ?= $(shell echo $$(( $$(nproc) + 1 )))
BUILD_REL  := build/release
BUILD_ASAN := build/asan
DATA_DIR   ?= var
LISTEN     ?= 127.0.0.1:8443
# ccache (CMakeLists.txt): paths below the clone are hashed relative to it, so every clone of the
# repository on this machine shares one cache.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: run test deps test-deps build build-asan ui test-release test-asan bench format format-check include-check clean

deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

$(BUILD_REL)/build.ninja: | deps
	cmake -S . -B $(BUILD_REL) -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -g1 -DNDEBUG"

$(BUILD_ASAN)/build.ninja: | deps
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" -DCERTFLEET_SANITIZE=ON -DCERTFLEET_BENCH=OFF

build: deps $(BUILD_REL)/build.ninja ui
	ninja -C $(BUILD_REL) -j $(JOBS)

build-asan: deps $(BUILD_ASAN)/build.ninja ui
	ninja -C $(BUILD_ASAN) -j $(JOBS)

# The console (docs/console.md): `npm ci` from ui/package-lock.json (again only when the lockfile
# or package.json changed; the stamp lives in node_modules, so deleting it reinstalls), then
# esbuild bundles ui/src into build/ui-dist, which certfleetd serves at /ui/ with --ui-dir.
# --ignore-scripts: no package runs code at install time, so nothing is downloaded but the
# locked packages (playwright-core drives Debian's /usr/bin/chromium in the tests).
UI_DIST  := build/ui-dist
UI_STAMP := ui/node_modules/.certfleet-npm-ci.stamp
UI_SRC   := $(shell find ui/src -type f 2>/dev/null) ui/build.mjs

$(UI_STAMP): ui/package-lock.json ui/package.json | deps
	cd ui && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund
	touch $@

$(UI_DIST)/index.html: $(UI_STAMP) $(UI_SRC)
	cd ui && node build.mjs ../$(UI_DIST)

ui: $(UI_DIST)/index.html

# Starts certfleetd in the foreground with its data in ./var (created on first start) and the
# console at https://$(LISTEN)/ui/.
# It builds only the three programs (not the tests and benchmarks that `make build` adds).
run: deps $(BUILD_REL)/build.ninja ui
	ninja -C $(BUILD_REL) -j $(JOBS) certfleetd certfleet certfleet-agent
	$(BUILD_REL)/apps/certfleetd/certfleetd --data-dir $(DATA_DIR) --listen $(LISTEN) \
	  --ui-dir $(UI_DIST)

test-release: test-deps build
	cd $(BUILD_REL) && ctest --output-on-failure -j $(CTEST_JOBS) --timeout 900

test-asan: test-deps build-asan
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(CTEST_JOBS) --timeout 1800

# Everything: formatting, the release build and the AddressSanitizer + UndefinedBehaviorSanitizer
# build.
test: format-check include-check test-release test-asan

bench: build
	scripts/bench.sh

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')

# The dependency rule of ARCHITECTURE.md, at the level of #include lines.
include-check: test-deps
	/usr/bin/python3 scripts/check-includes.py

format-check: deps
	clang-format --dry-run --Werror $$(git ls-files '*.h' '*.cc')

clean:
	rm -rf build
