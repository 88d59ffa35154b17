# The whole chain as make rules: incremental rebuilds and `make -j` for free.
#
#   make -f scripts/pipeline.mk CORPUS=data/sample OUT=build/demo [-j2]
#   make -f scripts/pipeline.mk CORPUS=/data/RAVDESS OUT=out MODEL=my-model.h5 report
#
# Variables (defaults below): CORPUS the corpus root(s); OUT the output folder; BIN the
# tools; JOBS threads per tool; CONFIG an optional YAML config for every tool; MODEL a
# checkpoint to evaluate (default: train one on the train split with scripts/train.py
# --freeze-image, TRAIN_FLAGS); SPLIT the split to score; SHARDS > 1 splits extraction
# into that many --shard I/N pieces (independent make jobs, merged by pack-h5).
#
# Targets: index features model int8 predictions report (default: all of them).

CORPUS ?= data/sample
OUT    ?= build/pipeline
BIN    ?= bin
JOBS   ?= 2
SPLIT  ?= test
SHARDS ?= 1
CONFIG ?=
PY     ?= /usr/bin/python3
TRAIN_FLAGS ?= --freeze-image --epochs 40 --batch 16 --lr 2e-3
# Use the fast sgemm kernels in PyTorch too (see DESIGN.md "Facts measured").
export OPENBLAS_CORETYPE ?= SkylakeX

CFG    := $(if $(CONFIG),--config $(CONFIG))
Q      ?= -q
MODEL  ?= $(OUT)/model.h5
SHARD_IDS := $(shell seq 0 $$(($(SHARDS) - 1)))
FRAMES := $(foreach i,$(SHARD_IDS),$(OUT)/frames.$(i)-of-$(SHARDS).h5)
MELS   := $(foreach i,$(SHARD_IDS),$(OUT)/mel.$(i)-of-$(SHARDS).h5)
comma  := ,
join    = $(subst $(eval) ,$(comma),$(strip $(1)))

.PHONY: all index features model int8 predictions report
.DELETE_ON_ERROR:

all: report
index: $(OUT)/index.csv
features: $(OUT)/features.h5
model: $(MODEL)
int8: $(OUT)/model-int8.h5
predictions: $(OUT)/predictions.csv $(OUT)/predictions-int8.csv
report: $(OUT)/report/metrics.csv $(OUT)/report-int8/metrics.csv

$(OUT)/index.csv: | $(OUT)
	$(BIN)/ravdess-index $(Q) $(CFG) $(CORPUS) -o $@

$(OUT)/frames.%.h5: $(OUT)/index.csv
	$(BIN)/extract-frames $(Q) $(CFG) -j $(JOBS) --shard $(subst -of-,/,$*) $< -o $@

$(OUT)/mel.%.h5: $(OUT)/index.csv
	$(BIN)/extract-mel $(Q) $(CFG) -j $(JOBS) --shard $(subst -of-,/,$*) $< -o $@

$(OUT)/features.h5: $(OUT)/index.csv $(FRAMES) $(MELS)
	$(BIN)/pack-h5 $(Q) $(CFG) -i $< -f $(call join,$(FRAMES)) -m $(call join,$(MELS)) -o $@

$(OUT)/model.h5: $(OUT)/features.h5
	$(PY) scripts/train.py $(Q) $(TRAIN_FLAGS) $< -o $(basename $@)

$(OUT)/model-int8.h5: $(MODEL)
	$(BIN)/quantize-model $(Q) $< -o $@

$(OUT)/predictions.csv: $(OUT)/features.h5 $(MODEL)
	$(BIN)/run-model $(Q) -j $(JOBS) -m $(MODEL) -i $< -o $@

$(OUT)/predictions-int8.csv: $(OUT)/features.h5 $(OUT)/model-int8.h5
	$(BIN)/run-model $(Q) -j $(JOBS) -m $(OUT)/model-int8.h5 -i $< -o $@

$(OUT)/report/metrics.csv: $(OUT)/predictions.csv
	$(BIN)/score $(Q) --split $(SPLIT) -o $(@D) $<

$(OUT)/report-int8/metrics.csv: $(OUT)/predictions-int8.csv
	$(BIN)/score $(Q) --split $(SPLIT) -o $(@D) $<

$(OUT):
	mkdir -p $@
