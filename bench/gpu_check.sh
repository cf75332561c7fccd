#!/usr/bin/env bash
# Every GPU check of invtransfer in one run, ≤ 8 minutes on an NVIDIA H100/H200 (issue 15 §2):
# the CUDA-only tests, rendering throughput on the device, per-epoch rendering vs fixed datasets
# (ResNet-18 pretraining, side by side), the ResNet-18 pretraining benchmark,
# features + probe + sens of one paper-scale model, and the quick preset's Fig 2 on CUDA.
# Each step has its own time limit; the report (default bench/gpu_check-<UTC date>[-N].md, plus a
# .json twin) records the machine and pass/fail/time and the measured numbers of every step.
#
#   bench/gpu_check.sh                 # on the GPU machine, from a checkout
#   bench/gpu_check.sh --dry           # CPU, tiny sizes: every step end to end (CI, tests)
#   bench/gpu_check.sh --help          # --out, --only, --limit STEP=S, --budget, --repeats, ...
#
# Uses the checkout's package (src/ goes first on PYTHONPATH) and the Python of $PYTHON, else
# `python3`; it needs torch, Snakemake and pytest (pip install -e ".[test]").
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" "$here/gpu_check.py" "$@"
