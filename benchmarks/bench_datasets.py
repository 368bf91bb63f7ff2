"""Benchmark of the slice datasets: building (time, memory, disk) and tf.data throughput.

Builds the dataset of one experiment from anonymized and original volumes into a temporary
folder, then reads it with the CycleGAN pipeline at 256, 128 and 64 pixels. The pipeline must
deliver images at least 10 times faster than a training step consumes them; the step times it
compares with are those measured on the 2-core CI machine (batch 1, design notes), until the
training benchmark measures them in the same run.

    python benchmarks/bench_datasets.py                     # synthetic cohort, blur, "all"
    python benchmarks/bench_datasets.py --source ixi --method remove --experiment guys
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from refacing_lib.anonymize.files import deface_folder
from refacing_lib.data.layout import Layout
from refacing_lib.data.synthetic import make_cohort
from refacing_lib.slicing.datasets import build_dataset, open_dataset
from refacing_lib.slicing.pipelines import cyclegan_pipeline

# ms per CycleGAN training step (2 G, 2 D, batch 1) on the 2-core CI CPU, design/cyclegan.md
STEP_MS = {256: 2400.0, 128: 630.0, 64: 220.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="synthetic", choices=("synthetic", "ixi"))
    parser.add_argument("--method", default="blur", choices=("blur", "remove"))
    parser.add_argument("--experiment", default="all", choices=("guys", "all"))
    parser.add_argument("--batches", type=int, default=200, help="batches read per setting")
    args = parser.parse_args()

    folders = Layout(args.source)
    originals = folders.originals
    if args.source == "synthetic":
        make_cohort(originals, subjects=12, seed=0, progress=False)    # what is missing
    # the anonymized volumes it needs (those already written are skipped)
    deface_folder([originals], folders.anonymized(args.method), args.method,
                  progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dataset"
        start = time.perf_counter()
        build_dataset(originals, folders.anonymized(args.method), out,
                      experiment=args.experiment, progress=False)
        seconds = time.perf_counter() - start
        ds = open_dataset(out)
        subjects = sum(c["subjects"] for c in ds.info["counts"].values())
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"build: {subjects} subjects in {seconds:.1f} s ({seconds / subjects:.2f} s per "
              f"subject), peak RSS {peak_mb:.0f} MB, {ds.info['bytes'] / 1e6:.1f} MB on disk "
              f"({ds.info['bytes'] / subjects / 1e6:.2f} MB per subject)")
        print(f"       the paper's 'all' (581 subjects) would take "
              f"{581 * ds.info['bytes'] / subjects / 1e9:.1f} GB")
        print("\n| pixels | batch | images/s | ms per training step | images/s needed (10x) "
              "| margin |")
        print("|---|---|---|---|---|---|")
        for size in (256, 128, 64):
            for batch in (1, 4):
                rate = _throughput(ds, size, batch, args.batches)
                needed = 10 * 1000.0 / STEP_MS[size]
                print(f"| {size} | {batch} | {rate:.0f} | {STEP_MS[size]:.0f} | {needed:.1f} | "
                      f"{rate / needed:.0f}x |")


def _throughput(ds, size: int, batch: int, batches: int) -> float:
    """Images per second of the unpaired pipeline (both domains), after one warm-up batch."""
    images, epoch = 0, 0
    iterator = iter(cyclegan_pipeline(ds, batch_size=batch, image_size=size, epoch=epoch))
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        try:
            a, b = next(iterator)
        except StopIteration:
            epoch += 1
            iterator = iter(cyclegan_pipeline(ds, batch_size=batch, image_size=size, epoch=epoch))
            a, b = next(iterator)
        images += int(a.shape[0])
    return images / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
