#!/usr/bin/env bash
# Installs ONNX Runtime for Node.js (onnxruntime-node, the CPU library is inside the
# package) into DIR (default: $RVT_BUILD/ort, else build/ort) from the npm registry,
# when it is not there yet; scripts/ort-run.mjs runs graphs with it.
# ONNXRUNTIME_NODE_INSTALL=skip stops the package's post-install script from fetching
# GPU binaries.  ORT_VERSION pins the version (default below).  About 20 s, 300 MB.
# Prints "install-ort: installing ..." on stderr when it installs; silent otherwise.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-${RVT_BUILD:-$ROOT/build}/ort}
VERSION=${ORT_VERSION:-1.31.1}
if [ -f "$DIR/node_modules/onnxruntime-node/package.json" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "install-ort: npm missing (Node.js >= 18 with npm)" >&2; exit 1; }
echo "install-ort: installing onnxruntime-node@$VERSION into $DIR (npm registry, ~300 MB)" >&2
mkdir -p "$DIR"
ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error \
  "onnxruntime-node@$VERSION" >&2
test -f "$DIR/node_modules/onnxruntime-node/package.json"
