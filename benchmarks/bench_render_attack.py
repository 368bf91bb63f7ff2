"""The render attack on a synthetic cohort with rescans: how often dlib finds a face in the
skin renders, and how often a rescan is identified among the originals (rank 1 and 5).

    python benchmarks/bench_render_attack.py --subjects 20 --seed 7    # human faces
    python benchmarks/bench_render_attack.py --subjects 20 --faces block
    python benchmarks/bench_render_attack.py --folder data/synthetic   # a cohort with rescans/

It prints the figures and the seconds per head (render and recognition).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from refacing_lib.data.io import load_volume
from refacing_lib.data.synthetic import make_cohort
from refacing_lib.evaluate.render import YAWS, FaceRecognizer, head_face, render_identification


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7, help="cohort seed (the course uses 0, 1)")
    parser.add_argument("--folder", type=Path, help="an existing cohort with rescans/ instead")
    parser.add_argument("--yaws", type=float, nargs="+", default=list(YAWS))
    parser.add_argument("--faces", choices=("block", "human"), default="human")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder
        if folder is None:
            folder = Path(tmp)
            make_cohort(folder, subjects=args.subjects, seed=args.seed, rescans=True,
                        progress=False, jobs=2, faces=args.faces)
        names = sorted(p.name for p in folder.glob("IXI*.nii.gz")
                       if (folder / "rescans" / p.name).is_file())
        recognizer, start = FaceRecognizer(), time.perf_counter()
        faces = {scan: [head_face(load_volume(folder / scan / name), recognizer, args.yaws)
                        for name in names] for scan in (".", "rescans")}
        seconds = (time.perf_counter() - start) / (2 * len(names))
    found = {scan: sum(f is not None for _, views in faces[scan] for f in views)
             / (len(names) * len(args.yaws)) for scan in faces}
    result = render_identification([d for d, _ in faces["rescans"]],
                                   [d for d, _ in faces["."]])
    source = folder if args.folder else f"seed {args.seed}, {args.faces} faces"
    print(f"{len(names)} subjects ({source}), yaws {args.yaws}, {seconds:.1f} s per head\n")
    print("| renders with a face: originals | rescans | rescans top-1 (95% interval) | "
          "top-5 | chance top-1 |")
    print("|---|---|---|---|---|")
    print(f"| {found['.']:.0%} | {found['rescans']:.0%} | {result['top-1']:.2f} "
          f"[{result['top-1 95% low']:.2f}, {result['top-1 95% high']:.2f}] | "
          f"{result['top-5']:.2f} | {result['top-1 chance']:.2f} |")


if __name__ == "__main__":
    main()
