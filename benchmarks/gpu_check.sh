#!/usr/bin/env bash
# The JAX path on a GPU machine that has JAX (with CUDA) but no TensorFlow, in at most 8 minutes:
#   1. install the packages the JAX path needs and the machine lacks, from wheels carried in
#      .whl/ (no network needed), into /tmp/site;
#   2. run the JAX tests that need no TensorFlow (exact resume after SIGINT / SIGTERM);
#   3. print the benchmark table at 256 pixels (batch 1 and 8, float32 and bfloat16), with the
#      projected wall time of the paper's trainings.
# Prepare the wheels once, on a machine with pip and internet (Python and platform of the GPU
# machine; the versions of requirements-jax.txt):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     keras==3.15.1 namex==0.1.0 optree==0.20.0 tensorboardX==2.6.5 nibabel==5.4.2 pooch==1.9.0
# then, from the repository's root on the GPU machine: bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 MPLBACKEND=Agg
python3 - <<'EOF'
import sys, jax, keras
print(f"Python {sys.version.split()[0]}, JAX {jax.__version__} on {jax.devices()}, Keras {keras.__version__}")
print("TensorFlow importable:", __import__("importlib").util.find_spec("tensorflow") is not None)
EOF
start=$SECONDS
timeout 300 python3 -m pytest -q -p no:cacheprovider tests/test_interrupts.py -k jax
echo "JAX tests: $((SECONDS - start)) s"
timeout 240 python3 benchmarks/bench_training.py --backend jax --sizes 256 --batches 1 8 \
    --precisions float32 bfloat16 --steps 20
