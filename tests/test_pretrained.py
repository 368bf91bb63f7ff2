"""The shipped pretrained course model: its files, their checksums, and the metrics the README
states for it, recomputed from the synthetic cohort's seed."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from refacing_lib.evaluate import pretrained
from refacing_lib.evaluate.pretrained import (
    PRETRAINED_DIR,
    held_out_subjects,
    load_pretrained,
    manifest,
    pretrained_average_face,
    weights_path,
)

README = Path(__file__).resolve().parents[1] / "README.md"
METHODS = ("blur", "remove")
#: How far a recomputed mean may be from the README's (3 decimals there): the same code on
#: another CPU gives the same numbers to about 1e-5; retraining gives other weights. An
#: identification rate may move by one probe (a near tie that another CPU breaks otherwise).
TOLERANCE = 0.002
#: The test subjects measured again by the tests: one per site.
SUBJECTS = sorted(next(name for name in held_out_subjects() if f"-{site}-" in name)
                  for site in ("Guys", "HH", "IOP"))


def readme_metrics() -> dict[str, dict[str, float]]:
    """The pretrained model's table in the README: measure -> {experiment-method: value}."""
    text = README.read_text()
    section = text.split("## The pretrained course model", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    table = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        table[cells[0]] = {name: float(re.match(r"[-\d.]+", cell).group())
                           for name, cell in zip(header[1:], cells[1:])}
    return table


@pytest.fixture(scope="module")
def pretrained_test_data(course_root):
    """:data:`SUBJECTS` of the pretrained model's test subjects, anonymized and sliced both
    ways in the course data root. Returns the two test datasets."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REFACING_DATA", str(course_root))
        return [pretrained.prepare_test_data(method, log=lambda line: None, subjects=SUBJECTS)
                for method in METHODS]


def test_manifest_names_every_file_and_the_commands():
    info = manifest()
    assert set(info["models"]) == set(METHODS)
    assert any("refacing train --profile course" in c for c in info["commands"])
    total = 0
    for method, entry in info["models"].items():
        assert weights_path(method).name == entry["weights"]
        assert (PRETRAINED_DIR / entry["history"]).is_file()
        assert entry["config"]["image_size"] >= 128
        total += weights_path(method).stat().st_size
    assert total <= 30e6
    assert len(held_out_subjects()) >= 15


@pytest.mark.parametrize("method", METHODS)
def test_weights_load_as_a_128_pixel_generator(method):
    generator = load_pretrained(method)
    size = manifest()["models"][method]["config"]["image_size"]
    assert generator.input_shape == (None, size, size, 1)
    face = pretrained_average_face(method)
    assert face.shape == (21, size, size) and -1 <= face.min() < face.max() <= 1
    # float16 on disk, float32 in the network, the stored values exactly
    with np.load(weights_path(method)) as data:
        kernel = data["c7s1_conv/kernel"]
    assert kernel.dtype == np.float16
    np.testing.assert_array_equal(generator.get_layer("c7s1_conv").kernel.numpy(),
                                  kernel.astype(np.float32))


def test_only_test_subjects_can_be_chosen():
    held_out = held_out_subjects()
    assert pretrained.checked_subjects([held_out[3], held_out[0]]) == [held_out[0], held_out[3]]
    assert pretrained.checked_subjects(None) == held_out
    for wrong in (["IXI002-Guys-0828-T1.nii.gz", held_out[0]], []):
        with pytest.raises(ValueError, match=r"subjects \[.*\]: not test subjects"):
            pretrained.checked_subjects(wrong)


def test_a_damaged_weights_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "pretrained"
    shutil.copytree(PRETRAINED_DIR, copy)
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", copy)
    monkeypatch.setattr(pretrained, "_MANIFEST", copy / "course.json")
    load_pretrained("blur")                                    # the intact copy loads
    path = copy / manifest()["models"]["blur"]["weights"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"course-all-blur\.npz: sha256 [0-9a-f]{64} differs"):
        load_pretrained("blur")
    path.unlink()
    with pytest.raises(FileNotFoundError, match="pretrained weights are missing"):
        load_pretrained("blur")
    with pytest.raises(ValueError, match="no pretrained model for method 'smudge'"):
        load_pretrained("smudge")


def shipped_table(name: str):
    """A CSV of the shipped results, indexed by ``experiment-method``."""
    import pandas as pd

    table = pd.read_csv(pretrained.shipped_results() / name)
    table.index = table["experiment"] + "-" + table["method"]
    return table


def test_readme_table_is_the_shipped_results_and_their_scores():
    """The README's table is the shipped metrics.csv (3 decimals), whose means are those of
    the shipped per-image scores; by them the attack works: refaced beats anonymized on the
    changed pixels, and the rest of the head is kept."""
    import pandas as pd

    table, checked = shipped_table("metrics.csv"), 0
    assert (table["test subjects"] == len(held_out_subjects())).all()
    for measure, values in readme_metrics().items():
        for name, value in values.items():
            assert table.loc[name, measure] == pytest.approx(value, abs=5e-4 + 1e-9), measure
            checked += 1
    assert checked >= 16
    for name in table.index:
        scores = pd.read_csv(pretrained.shipped_results() / f"scores_{name}.csv")
        assert sorted(set(scores["name"])) == held_out_subjects()
        assert len(scores) == table.loc[name, "test images"]
        measures = [c for c in scores.columns if c.startswith(("anonymized ", "refaced "))]
        assert len(measures) == 12
        for column in measures:                   # "refaced ssim" -> the table's "ssim refaced"
            version, measure = column.split(" ", 1)
            assert table.loc[name, f"{measure} {version}"] == pytest.approx(
                scores[column].mean(), rel=1e-9), (name, column)
        row = table.loc[name]
        assert row["correlation_changed refaced"] > row["correlation_changed anonymized"]
        assert row["mae_changed refaced"] < row["mae_changed anonymized"]
        assert row["mae_unchanged refaced"] <= 0.03


@pytest.mark.slow
@pytest.mark.usefixtures("in_course_root", "pretrained_test_data")
def test_pretrained_model_reproduces_its_shipped_scores(tmp_path):
    """Three test subjects (one per site) regenerated from the seed, anonymized, sliced,
    refaced and measured: every test image's scores are the shipped ones (which the README's
    table averages, test above). `refacing evaluate-pretrained` measures all 17 (minutes)."""
    import pandas as pd

    markdown = pretrained.evaluate_pretrained(tmp_path, METHODS, log=lambda line: None,
                                              subjects=SUBJECTS)
    assert markdown == tmp_path / "metrics.md"
    for name in shipped_table("metrics.csv").index:
        scores = pd.read_csv(tmp_path / f"scores_{name}.csv").set_index(["name", "position"])
        shipped = pd.read_csv(pretrained.shipped_results() / f"scores_{name}.csv")
        shipped = shipped.set_index(["name", "position"]).loc[scores.index]
        assert sorted(set(scores.index.get_level_values("name"))) == SUBJECTS
        assert len(scores) == 21 * len(SUBJECTS)
        measures = [c for c in scores.columns if c.startswith(("anonymized ", "refaced "))]
        assert len(measures) == 12
        gap = (scores[measures] - shipped[measures]).abs().to_numpy().max()
        assert gap <= TOLERANCE / 20, (name, gap)     # 0 on the machine that wrote them


@pytest.mark.slow
@pytest.mark.usefixtures("pretrained_test_data")
def test_pretrained_results_are_kept_and_the_weights_still_checked(in_course_root, tmp_path,
                                                                   monkeypatch):
    """A second evaluation copies the kept results without refacing anything, after checking
    the weights' sha256; another key measures again."""
    from refacing_lib.evaluate import evaluation

    first = pretrained.evaluate_pretrained(tmp_path / "first", METHODS, log=lambda line: None,
                                           subjects=SUBJECTS)

    def no_evaluation(*args, **kwargs):
        raise AssertionError("evaluated again")

    monkeypatch.setattr(evaluation, "evaluate", no_evaluation)
    lines = []
    second = pretrained.evaluate_pretrained(tmp_path / "second", METHODS, log=lines.append,
                                            subjects=SUBJECTS)
    assert any("kept in" in line for line in lines)
    files = sorted(p.name for p in first.parent.iterdir())
    assert files == sorted(p.name for p in second.parent.iterdir())
    assert "fig6_surfaces.png" in files
    for name in files:
        assert (first.parent / name).read_bytes() == (second.parent / name).read_bytes(), name
    with monkeypatch.context() as patch:                 # a replaced weights file is refused
        patch.setattr(pretrained, "_sha256", lambda path: "0" * 64)
        with pytest.raises(ValueError, match="sha256 0{64} differs"):
            pretrained.evaluate_pretrained(tmp_path / "damaged", METHODS, log=lambda line: None,
                                          subjects=SUBJECTS)
    real_key = pretrained.results_key
    monkeypatch.setattr(pretrained, "results_key", lambda datasets: real_key(datasets) + "x")
    with pytest.raises(AssertionError, match="evaluated again"):
        pretrained.evaluate_pretrained(tmp_path / "third", METHODS, log=lambda line: None,
                                      subjects=SUBJECTS)


@pytest.mark.slow
def test_theresults_key_follows_the_test_data_and_the_code(pretrained_test_data, tmp_path,
                                                             monkeypatch):
    from dataclasses import replace

    datasets = dict(zip(METHODS, pretrained_test_data))
    key = pretrained.results_key(datasets)
    assert key == pretrained.results_key(dict(datasets))
    assert re.fullmatch(r"[0-9a-f]{16}", key)
    blur = datasets["blur"]
    other = replace(blur, info={**blur.info, "settings": {**blur.info["settings"],
                                                          "spacing": "other"}})
    assert pretrained.results_key({**datasets, "blur": other}) != key
    assert pretrained.results_key({"remove": datasets["remove"]}) != key
    library = tmp_path / "refacing_lib"        # the same code elsewhere: the same key
    shutil.copytree(pretrained._LIBRARY, library,
                    ignore=shutil.ignore_patterns("*.npz", "*.gz", "__pycache__"))
    monkeypatch.setattr(pretrained, "_LIBRARY", library)
    assert pretrained.results_key(datasets) == key
    metrics = library / "evaluate" / "metrics.py"           # one changed line of code: another key
    metrics.write_text(metrics.read_text().replace("import numpy as np", "import numpy as np  #"))
    assert pretrained.results_key(datasets) != key
    monkeypatch.setattr(pretrained, "_KEY_PACKAGES", ("keras", "numpy"))
    changed = pretrained.results_key(datasets)
    metrics.write_text(metrics.read_text().replace("import numpy as np  #", "import numpy as np"))
    assert pretrained.results_key(datasets) not in (key, changed)   # other packages checked
