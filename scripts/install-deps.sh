#!/usr/bin/env bash
# Installs every Debian package the build, tests, demo and benchmarks need.
# Idempotent: with --if-missing it only calls apt-get when a package is absent,
# and runs `apt-get update` once before the first install.
set -euo pipefail

PKGS=(
  build-essential pkg-config
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
  libhdf5-dev hdf5-tools libsndfile1-dev libsoxr-dev libopenblas-dev libcsv-dev libyaml-dev
  libjpeg62-turbo-dev
  ffmpeg espeak-ng sox libxml2-utils librsvg2-bin valgrind time bc man-db
  munge slurmctld slurmd slurm-client
  clang-14 libclang-rt-14-dev
  python3-torch python3-torchvision python3-h5py python3-sklearn python3-numpy
  python3-scipy python3-pil python3-pytest python3-yaml python3-onnx
  python3-opencv python3-av
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  [ "${1:-}" = "--if-missing" ] || echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
