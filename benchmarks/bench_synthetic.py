"""Speed of the synthetic cohort generator, one core, full IXI size.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_synthetic.py [--repeat N]``

Prints seconds per subject for generation (``synthesize``: labels, intensities, noise, truth
masks), writing (int16 image + 3 uint8 masks as .nii.gz in IXI's "PSR" storage order, JSON) and
the total, for each site, and the peak resident memory of the process.
"""

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from refacing_lib.data import synthetic as S  # noqa: E402
from refacing_lib.data.synthetic.cohort import _write_scan  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="subjects per site")
    args = ap.parse_args()
    # warm-up (imports, first-touch page faults)
    S.synthesize(S.sample_subject(0, "Guys"), 0, shape=(40, 64, 64))
    print(f"{'site':5s} {'generate s':>10s} {'write s':>8s} {'total s':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for site in S.SITES:
            gen, wri = [], []
            for r in range(args.repeat):
                params = S.sample_subject(1000 + r, site)
                pose = S.sample_pose(2000 + r)
                entry = dict(index=r, id=2 + r, site=site, num=100 + r,
                             stem=f"IXI{2 + r:03d}-{site}-{100 + r:04d}-T1")
                entry["name"] = entry["stem"] + ".nii.gz"
                tm = _write_scan(folder, entry, params, pose, 3000 + r, 0, False, None)
                gen.append(tm["generate_s"])
                wri.append(tm["write_s"])
            g, w = float(np.mean(gen)), float(np.mean(wri))
            print(f"{site:5s} {g:10.2f} {w:8.2f} {g + w:8.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MB")


if __name__ == "__main__":
    main()
