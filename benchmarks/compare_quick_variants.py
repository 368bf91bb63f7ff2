"""What the quick profile needs to learn a useful refacer: training variants side by side.

Each variant trains from scratch on the quick profile's slice dataset (synthetic cohort, the
"all" split) in a temporary run folder, then refaces the test split and prints, per
anonymization:

* ``s``: wall seconds of the training (this machine, TensorFlow);
* ``mae changed anon / refaced``: mean |image - original| over the pixels the anonymization
  changed (more than 0.05 in [-1, 1]), for the anonymized and the refaced slices;
* ``corr changed anon / refaced``: mean per-image Pearson correlation over those pixels of the
  front half (:func:`refacing_lib.evaluate.metrics.similarity`);
* ``mae kept``: mean |refaced - original| over the pixels it did not change (the generator
  should leave them alone).

    python benchmarks/compare_quick_variants.py                      # all variants, both methods
    python benchmarks/compare_quick_variants.py --only paper skip --methods blur
    python benchmarks/compare_quick_variants.py --only skip "skip + identity 5" --methods blur \
        --epochs 20 --every 756                                      # learning curves

The datasets must exist (``make reproduce`` or notebook 03 builds them). Run it alone: the
timings assume both cores are free.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from refacing_lib.course.profiles import layout, load_profile, train_config
from refacing_lib.evaluate.evaluation import CHANGE_TOLERANCE
from refacing_lib.evaluate.metrics import similarity
from refacing_lib.model.reface import reface_dataset
from refacing_lib.model.training import train
from refacing_lib.slicing.datasets import open_dataset
from refacing_lib.slicing.slices import shrink

#: name -> TrainConfig overrides of the quick profile (whose own setting is the last one)
VARIANTS = {
    "paper": {"input_skip": False, "supervised_weight": 0.0},
    "supervised mae 10 + identity 5": {"input_skip": False, "supervised_weight": 10.0,
                                       "supervised_loss": "mae", "identity_weight": 5.0},
    "skip": {"input_skip": True, "supervised_weight": 0.0},
    "skip + identity 5": {"input_skip": True, "supervised_weight": 0.0, "identity_weight": 5.0},
    "skip + supervised mae 10": {"input_skip": True, "supervised_weight": 10.0,
                                 "supervised_loss": "mae"},
    "skip + supervised mae 100": {"input_skip": True, "supervised_weight": 100.0,
                                  "supervised_loss": "mae"},
    "skip + supervised mse 100": {"input_skip": True, "supervised_weight": 100.0,
                                  "supervised_loss": "mse"},
    "skip + supervised mse 1000 (quick)": {},
}


def measure(gan, dataset, size):
    """The five numbers of one trained variant on the test split."""
    original = shrink(dataset.images("test", "B"), size)
    anonymized = shrink(dataset.images("test", "A"), size)
    refaced = reface_dataset(gan.g_ab, dataset, "test")
    changed = np.abs(anonymized - original) > CHANGE_TOLERANCE
    corr = {name: similarity(original, images, changed)["correlation_changed"].mean()
            for name, images in (("anonymized", anonymized), ("refaced", refaced))}
    return {"mae_anon": np.abs(anonymized - original)[changed].mean(),
            "mae_ref": np.abs(refaced - original)[changed].mean(),
            "corr_anon": corr["anonymized"], "corr_ref": corr["refaced"],
            "mae_kept": np.abs(refaced - original)[~changed].mean()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=VARIANTS,
                        help="run only these variants (default: all)")
    parser.add_argument("--methods", nargs="+", default=["blur", "remove"])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--epochs", type=int, help="train this long (default: the profile's)")
    parser.add_argument("--every", type=int, help="measure every this many steps as well")
    args = parser.parse_args()
    profile = load_profile(args.profile)
    chosen = {k: v for k, v in VARIANTS.items() if not args.only or k in args.only}
    print("| variant | method | steps | s | mae changed anon / refaced | "
          "corr changed anon / refaced | mae kept |")
    print("|---|---|---|---|---|---|---|")
    for name, overrides in chosen.items():
        config = train_config(profile, **overrides,
                              **({"epochs": args.epochs} if args.epochs else {}))
        for method in args.methods:
            dataset = open_dataset(layout(profile).dataset(profile["experiment"], method))
            with tempfile.TemporaryDirectory() as run:
                seconds, step, done = 0.0, 0, False
                while not done:                   # stops at each measurement, resumes exactly
                    start = time.perf_counter()
                    result = train(dataset, run, config, progress=False, log=lambda line: None,
                                   until_step=step + args.every if args.every else None)
                    seconds += time.perf_counter() - start
                    step, done = result.step, result.step >= result.total_steps
                    m = measure(result.gan, dataset, config.image_size)
                    print(f"| {name} | {method} | {result.step} | {seconds:.0f} | "
                          f"{m['mae_anon']:.3f} / {m['mae_ref']:.3f} | "
                          f"{m['corr_anon']:.3f} / {m['corr_ref']:.3f} | {m['mae_kept']:.3f} |",
                          flush=True)


if __name__ == "__main__":
    main()
