"""Shared fixtures (small synthetic volumes built in the test, no external data; the course's
data root for the notebook tests) and the order in which pytest-xdist's workers take the files."""

import os

# A pytest-xdist worker (``make test``: two of them) shares the cores with another: one thread each
# for TensorFlow and BLAS, here and in the kernels and processes the tests start. Two workers of
# one TensorFlow training each on 2 cores took 50 s, against 58 s with the default threads.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(name, "1")

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

#: The test files of the course data root (``course_root`` below): the notebooks and their
#: solutions, the longest chain of the suite; and the browser and kernel-client tests, so
#: that all Jupyter kernels start in one process, one at a time:
#: jupyter_client picks a kernel's ports free and the kernel binds them only once it has
#: started, so a kernel that another worker started meanwhile could take them.
COURSE_FILES = ("tests/test_notebooks.py", "tests/test_solutions.py", "tests/test_browser.py",
                "tests/test_kernel_client.py")


def pytest_collection_modifyitems(config, items):
    """The tests of the course files come first, in collection (file name) order."""
    course = [item.nodeid.split("::")[0] in COURSE_FILES for item in items]
    items[:] = ([i for i, c in zip(items, course) if c]
                + [i for i, c in zip(items, course) if not c])


try:
    from xdist.scheduler import LoadFileScheduling
except ImportError:       # pytest-xdist is in requirements.txt; without it pytest runs alone
    LoadFileScheduling = None

if LoadFileScheduling is not None:
    class CourseFileScheduling(LoadFileScheduling):
        """``--dist loadfile`` with the course files as one unit of work: one worker runs them
        in order, so each stage of the course data root is built once, while the others take
        the remaining files (a file's fixtures are built once too). ``--dist loadgroup`` cannot
        do it: pytest-xdist 3.8 marks a group in the test's ``_nodeid``, which pytest 9.2 no
        longer reads. ``_split_scope`` is pytest-xdist's own hook for this (pinned version)."""

        def _split_scope(self, nodeid):
            path = super()._split_scope(nodeid)
            return "course" if path in COURSE_FILES else path

    def pytest_xdist_make_scheduler(config, log):
        """``make test`` runs ``-n 2 --dist loadfile --no-loadscope-reorder``: the
        course unit, first in the collection, goes to the first worker at once."""
        if config.getvalue("dist") == "loadfile":
            return CourseFileScheduling(config, log)
        return None


@pytest.fixture
def ras_volume():
    """A small RAS volume whose halves differ, with its affine and voxel sizes.

    Shape (12, 16, 20), voxels 1.2 x 0.9375 x 0.9375 mm. Every voxel's value encodes its RAS
    indices (``100 * i + 10 * (j % 10) + k % 10 + 1``), so any flip or transpose is visible, and a
    bright marker sits in the right-anterior-superior corner.
    """
    i, j, k = np.indices((12, 16, 20))
    data = (100 * i + 10 * (j % 10) + k % 10 + 1).astype(np.float32)
    data[-2:, -2:, -2:] = 5000
    zooms = (1.2, 0.9375, 0.9375)
    affine = np.diag(zooms + (1.0,))
    affine[:3, 3] = (-7.0, -7.5, -9.0)
    return data, affine, zooms


# ---- synthetic cohort fixtures (refacing_lib.data.synthetic) ------------------------------------

SYNTH_SMALL_SHAPE = (60, 96, 96)  # RAS shape of the fast, low-resolution synthetic test cohort


@pytest.fixture(scope="session")
def synth_small_cohort(tmp_path_factory):
    """4 synthetic subjects with rescans at low resolution (shape SYNTH_SMALL_SHAPE), seed 0,
    block faces (their files' checksums are pinned in test_synthetic.py)."""
    from refacing_lib.data.synthetic import make_cohort

    out = tmp_path_factory.mktemp("synth_small")
    paths = make_cohort(out, subjects=4, seed=0, rescans=True, progress=False,
                        shape=SYNTH_SMALL_SHAPE, faces="block")
    return out, paths


@pytest.fixture(scope="session")
def synth_ixi_cohort(tmp_path_factory):
    """3 full-size (IXI-shaped) synthetic subjects, one per site (Guys, HH, IOP), seed 0, block
    faces (checksums pinned in test_synthetic.py)."""
    from refacing_lib.data.synthetic import make_cohort

    out = tmp_path_factory.mktemp("synth_ixi")
    paths = make_cohort(out, subjects=3, seed=0, progress=False, faces="block")
    return out, paths


# ---- slice datasets (refacing_lib.slicing.slices, refacing_lib.slicing.datasets) ----------------

SLICE_COHORT_SHAPE = (40, 64, 72)  # RAS shape of the small heads of slice_cohort
SLICE_COHORT_NAMES = ("IXI002-Guys-0828-T1.nii.gz", "IXI012-HH-1211-T1.nii.gz",
                      "IXI013-HH-1212-T1.nii.gz", "IXI014-HH-1213-T1.nii.gz",
                      "IXI021-Guys-0703-T1.nii.gz", "IXI025-Guys-0852-T1.nii.gz",
                      "IXI029-IOP-0721-T1.nii.gz", "IXI030-IOP-0722-T1.nii.gz")


def small_head(seed, shift_x=0.0, shape=SLICE_COHORT_SHAPE):
    """A textured ellipsoid 'head' (RAS, 1.2 x 0.9375 x 0.9375 mm voxels), background 0..1.

    Returns the float32 array; its head centre is ``shift_x`` voxels right of the array centre.
    """
    rng = np.random.default_rng(seed)
    i, j, k = np.indices(shape, dtype=np.float32)
    cx, cy, cz = (np.array(shape) - 1) / 2
    r = ((i - cx - shift_x) / (shape[0] * 0.4)) ** 2 + ((j - cy) / (shape[1] * 0.42)) ** 2 \
        + ((k - cz) / (shape[2] * 0.42)) ** 2
    data = np.where(r < 1, 400 + 300 * rng.random(shape), rng.random(shape))
    return data.astype(np.float32)


@pytest.fixture(scope="session")
def slice_cohort(tmp_path_factory):
    """Small IXI-named heads and 'anonymized' copies (front 12 voxels zeroed), as IXI stores them.

    Returns ``(originals, anonymized)`` folders; 8 subjects: 3 Guys, 3 HH, 2 IOP.
    """
    from refacing_lib.data.io import save_volume

    root = tmp_path_factory.mktemp("slice_cohort")
    affine = np.diag([1.2, 0.9375, 0.9375, 1.0])
    for n, name in enumerate(SLICE_COHORT_NAMES):
        data = small_head(n, shift_x=(n % 3) - 1)
        save_volume(root / "original" / name, data, affine, orientation="PSR", dtype=np.int16)
        data[:, -12:, :] = 0
        save_volume(root / "anonymized" / name, data, affine, orientation="PSR", dtype=np.int16)
    return root / "original", root / "anonymized"


@pytest.fixture(scope="session")
def slice_dataset(slice_cohort, tmp_path_factory):
    """The 'all' dataset of slice_cohort (105 train, 63 test image pairs at 256 x 256)."""
    from refacing_lib.slicing.datasets import build_dataset, open_dataset

    originals, anonymized = slice_cohort
    out = tmp_path_factory.mktemp("slice_dataset") / "synthetic-all-remove"
    return open_dataset(build_dataset(originals, anonymized, out, progress=False,
                                      log=lambda line: None))


# ---- the course's data root (notebook, solution and pretrained-model tests) -----------------

#: Seconds a cell may run in the notebook and solution tests; the longest, a training of
#: notebook 05 or 06, takes 1-2 minutes on 2 busy cores, so a cell that runs longer is a
#: fault. The limit also bounds a stall of papermill's client, seen in about
#: two of eight two-worker runs before refacing_lib.course.kernel_client (see there), which is
#: meant to end it within a second; tested with simulated missed wake-ups, not yet against the
#: stall.
CELL_TIMEOUT = 480


@pytest.fixture(scope="session")
def course_root(tmp_path_factory):
    """An empty data root of its own for the course's notebooks and the pretrained model's
    test subjects (``$REFACING_DATA``).

    The notebooks never read the repository's ``data/``, so their tests pass alone and in
    any order on a fresh clone. The stage fixtures below fill this one folder through the
    library, each once per test run; a notebook that does a stage itself finds it done.
    """
    return tmp_path_factory.mktemp("course_data")


@pytest.fixture
def in_course_root(course_root, monkeypatch):
    """``$REFACING_DATA`` set to :func:`course_root` for one test (and the kernels it starts)."""
    monkeypatch.setenv("REFACING_DATA", str(course_root))
    return course_root


@pytest.fixture(scope="session")
def course_datasets(course_root):
    """The quick profile's cohort (with second scans), anonymized both ways, and the slice
    datasets of its experiment for both, as notebooks 01-03 leave them. Returns their folders."""
    from refacing_lib.course.pipeline import prepare_data, prepare_dataset
    from refacing_lib.course.profiles import layout, load_profile

    profile = load_profile("quick")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REFACING_DATA", str(course_root))
        folders = layout(profile)
        prepare_data(profile, folders, log=lambda line: None, rescans=True)
        return [prepare_dataset(profile, folders, profile["experiment"], method,
                                log=lambda line: None) for method in ("remove", "blur")]


#: What a course notebook (and its solutions) reads that earlier notebooks make: the fixtures
#: above that prepare it. 01-03 start from the cohort, which the runner generates where missing.
NOTEBOOK_NEEDS = {"04": ["course_datasets"], "05": ["course_datasets"],
                  "06": ["course_datasets"]}


@pytest.fixture
def notebook_data(in_course_root, request):
    """A function ``prepare(stem)``: what notebook ``stem`` (``"05_training"``) reads from the
    notebooks before it, in the course data root that this test's kernels see."""
    def prepare(stem):
        for fixture in NOTEBOOK_NEEDS.get(stem[:2], []):
            request.getfixturevalue(fixture)
    return prepare
