# Entry points. Every target installs what it needs first.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps configure build test test-asan test-emu bench demo install format clean

deps:
	@scripts/install-deps $(DEPS_FLAGS)

configure: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMBER_BUILD_PYTHON=ON $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@PYTHONPATH=$(BUILD)/python EMBER_LM_BIN=$(abspath $(BUILD))/bin/ember-lm python3 -m pytest -q python/tests

# The file loaders' tests and malformed-file battery under AddressSanitizer and
# UBSan, in their own Debug build (only the library and those tests are built).
ASAN_BUILD ?= build-asan
test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  -DEMBER_BUILD_BENCHMARKS=OFF -DEMBER_BUILD_EXAMPLES=OFF -DEMBER_BUILD_CUDA=OFF >/dev/null
	@# Paths relative to the checkout in ccache's keys, so a clone elsewhere (CI) reuses the objects.
	@CCACHE_BASEDIR=$(CURDIR) CCACHE_NOHASHDIR=true cmake --build $(ASAN_BUILD) -j $(JOBS) --target ember_io_tests
	@$(ASAN_BUILD)/bin/ember_io_tests --gtest_brief=1

# The CUDA backend built against the CPU emulator (no GPU, no CUDA toolkit needed): the GPU
# tests run with the GPU as the default device, every Ember-written kernel on the emulator.
EMU_BUILD ?= build-emu
EMU_TESTS ?= CudaBackend.*:CudaMatmul.*:CudaGemv.*:Fast.*:GradFast.*:CudaReduce.*:CudaSoftmax.*:CudaArgReduce.EveryDtypeLayoutAndAxis:CudaIndexing.*:CudaRandomScan.*:CudaSort.*:CudaLinalg.*:CudaEmulator.*:CudaQuantized.*:Quantized.*:GradQuantized.*
EMU_DELAY_TESTS ?= CudaBackend.*:CudaIndexing.*:CudaLinalg.*
test-emu: deps
	@cmake -S . -B $(EMU_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMBER_CUDA_EMULATOR=ON \
	  -DEMBER_BUILD_BENCHMARKS=OFF -DEMBER_BUILD_EXAMPLES=OFF -DEMBER_BUILD_PYTHON=ON >/dev/null
	@CCACHE_BASEDIR=$(CURDIR) CCACHE_NOHASHDIR=true cmake --build $(EMU_BUILD) -j $(JOBS) --target ember_emu_tests ember_lm_tests core
	@EMBER_DEFAULT_DEVICE=gpu EMBER_KERNEL_CACHE=$(CURDIR)/$(EMU_BUILD)/kernels \
	  $(EMU_BUILD)/bin/ember_emu_tests --gtest_brief=1 --gtest_filter='$(EMU_TESTS)'
	@echo "== compile: fused kernels generated for the GPU (12 random graphs; the CPU build runs 500)"
	@EMBER_TEST_COMPILE_GRAPHS=12 EMBER_DEFAULT_DEVICE=gpu EMBER_KERNEL_CACHE=$(CURDIR)/$(EMU_BUILD)/kernels \
	  $(EMU_BUILD)/bin/ember_emu_tests --gtest_brief=1 \
	  --gtest_filter='Compile.FusedKernelsRunOnTheGpu:Compile.RandomGraphsMatchEager'
	@echo "== streams held back 200 us per operation (a missing wait between streams or for the host shows)"
	@EMBER_EMU_STREAM_DELAY_US=200 EMBER_DEFAULT_DEVICE=gpu EMBER_KERNEL_CACHE=$(CURDIR)/$(EMU_BUILD)/kernels \
	  $(EMU_BUILD)/bin/ember_emu_tests --gtest_brief=1 --gtest_filter='$(EMU_DELAY_TESTS)'
	@echo "== the same with managed memory (EMBER_CUDA_MANAGED=1)"
	@EMBER_CUDA_MANAGED=1 EMBER_EMU_STREAM_DELAY_US=200 EMBER_DEFAULT_DEVICE=gpu EMBER_KERNEL_CACHE=$(CURDIR)/$(EMU_BUILD)/kernels \
	  $(EMU_BUILD)/bin/ember_emu_tests --gtest_brief=1 --gtest_filter='$(EMU_DELAY_TESTS)'
	@echo "== language models on the emulated GPU against transformers (norms, rope, decode attention and quantized products run their GPU kernels on the emulator)"
	@test -d $(BUILD)/lm/fixtures/models || python3 lm/tests/fixtures/make_all.py $(BUILD)/lm/fixtures
	@EMBER_LM_FIXTURES=$(CURDIR)/$(BUILD)/lm/fixtures EMBER_DEFAULT_DEVICE=gpu EMBER_KERNEL_CACHE=$(CURDIR)/$(EMU_BUILD)/kernels \
	  $(EMU_BUILD)/bin/ember_lm_tests --gtest_brief=1 \
	  --gtest_filter='LmModel.Random*:LmModel.Gguf*:LmModel.Batched*:LmModel.Decode*:LmModel.Segments*:LmKVCache.*'
	@echo "== the Python tests with the emulated GPU as the default device (the server's, which start ember-lm, run in make test)"
	@PYTHONPATH=$(EMU_BUILD)/python EMBER_DEFAULT_DEVICE=gpu EMBER_KERNEL_CACHE=$(CURDIR)/$(EMU_BUILD)/kernels \
	  python3 -m pytest -q -p no:cacheprovider -n $(JOBS) --ignore=python/tests/test_server.py python/tests

bench: build
	@$(BUILD)/bin/bench_core
	@$(BUILD)/bin/bench_conv
	@$(BUILD)/bin/bench_io
	@PYTHONPATH=$(BUILD)/python python3 bench/bench_python.py
	@PYTHONPATH=$(BUILD)/python python3 bench/bench_train.py
	@PYTHONPATH=$(BUILD)/python python3 bench/bench_compile.py
	@python3 bench/bench_lm.py --ember $(BUILD)/bin/ember-lm
	@python3 bench/bench_server.py --ember $(BUILD)/bin/ember-lm

# The main job: the default model (SmolLM2-135M-Instruct, installed by scripts/install-deps)
# answers a question through its chat template on the CPU; then the two small training demos.
DEMO_PROMPT ?= What is the capital of France, and what is it famous for? Answer in two sentences.
demo: DEPS_FLAGS = --runtime
demo: build
	@$(BUILD)/bin/ember-lm generate --prompt "$(DEMO_PROMPT)" --max-tokens 120
	@echo
	@$(BUILD)/bin/demo_regression
	@echo
	@$(BUILD)/bin/demo_mlp

format:
	@clang-format -i $$(git ls-files '*.h' '*.cpp')

clean:
	rm -rf $(BUILD)
