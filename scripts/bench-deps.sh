#!/usr/bin/env bash
# What the benchmarks in bench/ need beyond the project's own dependencies (never the runtime's):
# - bench/real_corpus.py: ffmpeg, sox (+ all formats), fpcalc;
# - bench/reperformance_corpus.py: FluidSynth and the FluidR3 General MIDI soundfont (Debian), mido (also in
#   the dev extras), and Spotify's basic-pitch run through its ONNX model on onnxruntime.
# basic-pitch 0.4.0 declares TensorFlow as a dependency on Linux, for its TensorFlow backend only; the ONNX
# model ships inside the wheel, so the wheel is installed with --no-deps and what its code imports
# (librosa, mir_eval, pretty_midi, resampy, scikit-learn, onnxruntime) is pinned here, exactly.
# Usage: scripts/bench-deps.sh [PYTHON]   (default .venv/bin/python; apt-get needs root)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${1:-.venv/bin/python}"

missing=()
for tool in ffmpeg sox fpcalc fluidsynth; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing+=(fluid-soundfont-gm)
if [ ${#missing[@]} -gt 0 ]; then
  packages=(ffmpeg sox libsox-fmt-all libchromaprint-tools fluidsynth fluid-soundfont-gm)
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing system packages: ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  else
    echo "The benchmarks need: ${missing[*]}; install with: sudo apt-get install ${packages[*]}" >&2
    exit 1
  fi
fi

# numpy and scipy stay at the project's pins (pyproject.toml): the constraints keep pip from moving them.
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
"$PYTHON" - >"$constraints" <<'EOF'
from importlib.metadata import version
print(f"numpy=={version('numpy')}\nscipy=={version('scipy')}")
EOF
"$PYTHON" -m pip install -q -c "$constraints" \
  'mido==1.3.3' \
  'onnxruntime==1.31.1' 'flatbuffers==25.12.19' 'protobuf==7.36.2' \
  'librosa==0.11.0' 'audioread==3.1.0' 'decorator==5.3.1' 'joblib==1.6.0' 'cloudpickle==3.1.3' \
  'lazy-loader==0.6' 'msgpack==1.2.4' 'numba==0.68.1' 'llvmlite==0.50.0' 'pooch==1.9.0' \
  'platformdirs==4.14.9' 'scikit-learn==1.9.1' 'narwhals==2.29.0' 'threadpoolctl==3.8.0' \
  'mir-eval==0.8.2' 'pretty-midi==0.2.11.post0' 'importlib-resources==7.1.0' 'resampy==0.4.2'
"$PYTHON" -m pip install -q --no-deps 'basic-pitch==0.4.0'
"$PYTHON" - <<'EOF'
import logging

logging.disable(logging.WARNING)  # basic-pitch warns about every backend it lacks (TF, CoreML, TFLite)
import onnxruntime  # noqa: F401
from basic_pitch import FilenameSuffix, build_icassp_2022_model_path

model = build_icassp_2022_model_path(FilenameSuffix.onnx)
assert model.exists(), model
print(f"bench dependencies ready (basic-pitch ONNX model: {model})")
EOF
