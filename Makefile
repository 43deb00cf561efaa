# The two commands of the README's quick start:
#   make run    installs what is missing, builds, runs the main job on embedded defaults
#   make test   installs what is missing, builds (plain, ASan+UBSan, ThreadSanitizer), runs every
#               test (the thread tests under TSan too), each fuzzer for FUZZ_SECONDS, then the
#               Flink peer's Maven tests against the build
# `make run` measures a Nexmark query (weir bench nexmark ARGS); any other JOB= runs that
# job: make run JOB=pipeline ARGS="--records 1e7", make run ARGS="--query q7 --events 20M -p 2"
BUILD      ?= build
BUILD_SAN  ?= build-san
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 20
JOBS       ?= $(shell nproc)
JOB        ?= nexmark
ifeq ($(JOB),nexmark)
ARGS       ?= --query q5 --events 10M
endif
ARGS       ?=
CMAKE_ARGS ?=

.PHONY: all deps build build-san run test test-plain test-san test-fuzz test-peer bench clean format

all: build

deps:
	@./tools/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-san: deps
	@cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DWEIR_SANITIZE=ON -DWEIR_BENCH=OFF \
	    -DWEIR_WERROR=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD_SAN) -j $(JOBS)

run: build
	@$(BUILD)/tools/weir $(if $(filter nexmark,$(JOB)),bench nexmark,run $(JOB)) $(ARGS)

test-plain: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_WERROR=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-san: build-san
	@cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# Every libFuzzer target (tests/fuzz) for FUZZ_SECONDS on a copy of its corpus, built in
# $(BUILD_FUZZ) with clang; a crash, leak or timeout fails. Longer runs: tools/fuzz.sh.
test-fuzz: deps
	@BUILD_FUZZ=$(BUILD_FUZZ) JOBS=$(JOBS) tools/fuzz.sh --scratch all $(FUZZ_SECONDS)

# The Flink peer's tests (bench/peers/flink): its Java generator against
# weir's, and Flink's q0-q8 results against weir's on 1 M events.
test-peer: test-plain
	@cd bench/peers/flink && WEIR=$(CURDIR)/$(BUILD)/tools/weir mvn -B -ntp package

# ThreadSanitizer build (build-tsan, WEIR_TSAN=ON) of the tests labelled tsan in
# tests/CMakeLists.txt; a report fails the test (halt_on_error), tests/tsan.supp says which
# reports inside uninstrumented libraries are not ours.
.PHONY: test-tsan
test-tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_TSAN=ON -DWEIR_BENCH=OFF \
	    -DWEIR_WERROR=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build build-tsan -j $(JOBS)
	@cd build-tsan && \
	    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp \
	    ctest -L tsan --output-on-failure -j $(JOBS)

test: test-plain test-san test-tsan test-fuzz test-peer

bench: build
	@echo "see bench/RESULTS.md for the commands that reproduce each figure"

format:
	@clang-format -i $$(git ls-files '*.c' '*.h' '*.cc')

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_FUZZ) build-tsan
