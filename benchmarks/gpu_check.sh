#!/usr/bin/env bash
# GPU readiness check, for a lent CUDA machine (about 5 minutes on one H100/H200):
#   bash benchmarks/gpu_check.sh            # installs into .venv if missing, then runs benchmarks/gpu_check.py
# Reports bf16 / fp32 with SDPA, eager and (if flash-attn is installed) flash_attention_2: padded vs packed batches
# (tokens/s, packing_ok, loss agreement) and LESS hook gradients vs the per-example loop; writes $OUT/gpu_check.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export DATACURATE_HOME=${DATACURATE_HOME:-$PWD/.home} HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
[ -x .venv/bin/python ] || SKIP_DEMO=1 bash scripts/install.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
.venv/bin/python -c "import torch; assert torch.cuda.is_available(), 'torch sees no CUDA device (CPU wheel?)'; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
.venv/bin/python benchmarks/gpu_check.py
