# The whole chain as make rules: incremental rebuilds and `make -j` for free.
#
#   make -f scripts/pipeline.mk CORPUS=data/sample OUT=build/demo [-j2]
#   make -f scripts/pipeline.mk CORPUS=/data/RAVDESS OUT=out MODEL=my-model.h5 report
#
# Variables (defaults below): CORPUS the corpus root(s), needed to make or remake the
# index (no default: `make demo` gives the sample corpus; without CORPUS an existing
# OUT/index.csv, e.g. one written by ravdess-index, is taken as it is); OUT the output folder; BIN the
# tools; JOBS threads per tool; CONFIG an optional YAML config for every tool; MODEL a
# checkpoint to evaluate (default: train one on the train split with scripts/train.py,
# TRAIN_FLAGS: every weight trains, ~2 min on the sample corpus with 2 cores; add
# --freeze-image for the fast mode); SPLIT the split to score; SHARDS > 1 splits extraction
# into that many --shard I/N pieces (independent make jobs, merged by pack-h5).
#
# Targets: index features model int8 predictions report (default: all of them).
#
# What reruns: the index when the corpus listing changes (clips added, removed, renamed,
# or CORPUS itself) or a clip file is newer than it; every step when CONFIG's file is
# newer; everything downstream of a changed output.  Not tracked: TRAIN_FLAGS and the
# tools themselves (after changing those, `make -B` the target).  `make -n` writes
# nothing (the corpus listing is compared at parse time, written by its own rule).

CORPUS ?=
OUT    ?= build/pipeline
BIN    ?= bin
JOBS   ?= 2
SPLIT  ?= test
SHARDS ?= 1
CONFIG ?=
PY     ?= /usr/bin/python3
TRAIN_FLAGS ?= --epochs 15 --batch 16 --lr 1e-3
# Use the fast sgemm kernels in PyTorch too (Debian's OpenBLAS misdetects newer Xeons; see
# lib/core/cpu.h): the best this CPU runs (SkylakeX needs AVX-512: elsewhere it dies of
# SIGILL), chosen from its flags as lib/core/cpu.c does; none: OpenBLAS's own choice.
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
BLAS_CORE := $(if $(and $(filter avx512f,$(CPU_FLAGS)),$(filter avx512bw,$(CPU_FLAGS)),$(filter avx512vl,$(CPU_FLAGS)),$(filter avx512dq,$(CPU_FLAGS))),SkylakeX,$(if $(and $(filter avx2,$(CPU_FLAGS)),$(filter fma,$(CPU_FLAGS))),Haswell))
OPENBLAS_CORETYPE ?= $(BLAS_CORE)
ifneq ($(OPENBLAS_CORETYPE),)
export OPENBLAS_CORETYPE
endif

CFG    := $(if $(CONFIG),--config $(CONFIG))
Q      ?= -q
MODEL  ?= $(OUT)/model.h5
SHARD_IDS := $(shell seq 0 $$(($(SHARDS) - 1)))
FRAMES := $(foreach i,$(SHARD_IDS),$(OUT)/frames.$(i)-of-$(SHARDS).h5)
MELS   := $(foreach i,$(SHARD_IDS),$(OUT)/mel.$(i)-of-$(SHARDS).h5)
comma  := ,
commalist = $(subst $(eval) ,$(comma),$(strip $(1)))

.PHONY: all index features model int8 predictions report FORCE
.DELETE_ON_ERROR:

all: report
index: $(OUT)/index.csv
features: $(OUT)/features.h5
model: $(MODEL)
int8: $(OUT)/model-int8.h5
# The int8 half runs when quantize-model is built (INT8=0 turns it off).
INT8   ?= $(if $(wildcard $(BIN)/quantize-model),1,0)
INT8_PRED   := $(if $(filter 1,$(INT8)),$(OUT)/predictions-int8.csv)
INT8_REPORT := $(if $(filter 1,$(INT8)),$(OUT)/report-int8/metrics.csv)
predictions: $(OUT)/predictions.csv $(INT8_PRED)
report: $(OUT)/report/metrics.csv $(INT8_REPORT)

# The corpus listing (one path a line, and CONFIG's name), rewritten only when it
# differs, so that its date says when the set of clips last changed.  Parsing only
# reads: the listing is compared here and written by its rule (so `make -n` writes
# nothing).
CORPUS_LIST := $(OUT)/corpus.list
ifeq ($(strip $(CORPUS)),)
$(OUT)/index.csv:
	@echo "pipeline.mk: CORPUS is not set: give CORPUS=path/to/RAVDESS to make $@" \
	  "(or write it with ravdess-index first; make demo uses the sample corpus)" >&2; exit 2
else
list_corpus = { find -L $(CORPUS) -type f \( -name '*.mp4' -o -name '*.wav' \) | LC_ALL=C sort; \
                echo "config: $(CONFIG)"; }
CORPUS_CHANGED := $(shell $(list_corpus) | cmp -s - $(CORPUS_LIST) || echo yes)
CORPUS_FILES := $(shell find -L $(CORPUS) -type f \( -name '*.mp4' -o -name '*.wav' \))

$(CORPUS_LIST): $(if $(CORPUS_CHANGED),FORCE) | $(OUT)
	$(list_corpus) > $@.new && mv $@.new $@

$(OUT)/index.csv: $(CORPUS_LIST) $(CORPUS_FILES) $(CONFIG) | $(OUT)
	$(BIN)/ravdess-index $(Q) $(CFG) $(CORPUS) -o $@
endif

FORCE:

$(OUT)/frames.%.h5: $(OUT)/index.csv
	$(BIN)/extract-frames $(Q) $(CFG) -j $(JOBS) --shard $(subst -of-,/,$*) $< -o $@

$(OUT)/mel.%.h5: $(OUT)/index.csv
	$(BIN)/extract-mel $(Q) $(CFG) -j $(JOBS) --shard $(subst -of-,/,$*) $< -o $@

$(OUT)/features.h5: $(OUT)/index.csv $(FRAMES) $(MELS)
	$(BIN)/pack-h5 $(Q) $(CFG) -i $< -f $(call commalist,$(FRAMES)) -a $(call commalist,$(MELS)) -o $@

$(OUT)/model.h5: $(OUT)/features.h5
	$(PY) scripts/train.py $(Q) $(TRAIN_FLAGS) $< -o $(basename $@)

$(OUT)/model-int8.h5: $(MODEL) $(CONFIG)
	$(BIN)/quantize-model $(Q) $(CFG) $< -o $@

$(OUT)/predictions.csv: $(OUT)/features.h5 $(MODEL) $(CONFIG)
	$(BIN)/run-model $(Q) $(CFG) -j $(JOBS) -m $(MODEL) -F $< -o $@

$(OUT)/predictions-int8.csv: $(OUT)/features.h5 $(OUT)/model-int8.h5 $(CONFIG)
	$(BIN)/run-model $(Q) $(CFG) -j $(JOBS) -m $(OUT)/model-int8.h5 -F $< -o $@

$(OUT)/report/metrics.csv: $(OUT)/predictions.csv $(CONFIG)
	$(BIN)/score $(Q) $(CFG) --split $(SPLIT) -o $(@D) $<

$(OUT)/report-int8/metrics.csv: $(OUT)/predictions-int8.csv $(CONFIG)
	$(BIN)/score $(Q) $(CFG) --split $(SPLIT) -o $(@D) $<

$(OUT):
	mkdir -p $@
