#!/bin/sh
# The one-command GPU check of issue 10 (see benchmarks/gpu_check.py --help); arguments are passed on.
cd "$(dirname "$0")/.." && exec python benchmarks/gpu_check.py "$@"
