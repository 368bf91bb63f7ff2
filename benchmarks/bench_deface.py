"""Speed and quality of face blurring and removal on the synthetic cohort, one core.

Run: ``python benchmarks/bench_deface.py [--subjects N] [--folder DIR] [--seed S]``

For each full-size synthetic subject (cohort seed ``S``, default 0, generated into
``<data>/synthetic`` if missing; give another seed its own ``--folder``) prints
the seconds of ``find_face`` and of each method on top of it, and the quality measured against
the ground truth (:func:`refacing_lib.anonymize.deface_checks.deface_quality`): true brain voxels
changed, the fraction of the true face zeroed and of the other head voxels changed (remove),
the relative change of the face's skin layer, the changed voxels deeper than 15 mm and the
fine surface detail kept (blur). Then the seconds of anonymizing those files both ways into
folders: two ``deface_folder`` calls against one ``deface_folders`` (each face found once),
reading and writing the files included.
"""

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from refacing_lib.anonymize.deface import METHODS, deface, find_face  # noqa: E402
from refacing_lib.anonymize.deface_checks import deface_quality  # noqa: E402
from refacing_lib.anonymize.files import deface_folder, deface_folders  # noqa: E402
from refacing_lib.data.io import load_volume  # noqa: E402
from refacing_lib.data.layout import Layout  # noqa: E402
from refacing_lib.data.synthetic import make_cohort  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=12)
    ap.add_argument("--folder", type=Path, default=Layout("synthetic").originals)
    ap.add_argument("--seed", type=int, default=0, help="cohort seed (default 0)")
    args = ap.parse_args()
    paths = make_cohort(args.folder, subjects=args.subjects, seed=args.seed, progress=False)
    print(f"{'subject':8s} {'find s':>6s} {'blur s':>6s} {'rm s':>5s} {'brain':>5s} "
          f"{'face0':>6s} {'other':>6s} {'skin':>5s} {'deep':>5s} {'detail':>6s}")
    for path in paths:
        volume = load_volume(path)
        stem = path.name[: -len(".nii.gz")]
        truth = {k: load_volume(path.parent / "truth" / f"{stem}_{k}.nii.gz").data > 0
                 for k in ("brain", "face", "head")}
        t0 = time.perf_counter()
        finding = find_face(volume)
        t_find = time.perf_counter() - t0
        q, t = {}, {}
        for method in ("blur", "remove"):
            t0 = time.perf_counter()
            defaced, _ = deface(volume, method, finding)
            t[method] = time.perf_counter() - t0
            q[method] = deface_quality(volume.data, defaced.data, truth, volume.zooms)
        brain = max(q["blur"]["brain_changed"], q["remove"]["brain_changed"])
        print(f"{stem[:8]:8s} {t_find:6.2f} {t['blur']:6.2f} {t['remove']:5.2f} {brain:5d} "
              f"{q['remove']['face_zeroed']:6.3f} {q['remove']['other_changed']:6.3f} "
              f"{q['blur']['skin_face_change']:5.2f} {q['blur']['deep_changed']:5d} "
              f"{q['blur']['profile_detail_kept']:6.2f}", flush=True)
    print("brain: true brain voxels changed by either method; face0 / other: remove; "
          "skin, deep, detail: blur (see refacing_lib.anonymize.deface_checks.deface_quality)")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for method in METHODS:
            deface_folder(paths, Path(tmp) / "one" / method, method, progress=False)
        t_one = time.perf_counter() - t0
        t0 = time.perf_counter()
        deface_folders(paths, {m: Path(tmp) / "both" / m for m in METHODS}, progress=False)
        t_both = time.perf_counter() - t0
    print(f"{len(paths)} files both ways: deface_folder per method {t_one:.1f} s, "
          f"deface_folders {t_both:.1f} s ({1 - t_both / t_one:.0%} less)")


if __name__ == "__main__":
    main()
