"""The worked solutions of the exercises (notebooks/solutions/) execute in the quick profile.

Each solution notebook checks its own answers with asserts, so a solution that no longer
gives the right number fails here. They run in the course notebooks' data root, with what
their notebook reads prepared first (``notebook_data`` in conftest.py); what a solution trains
or writes goes to folders of its own (``<data root>/runs/solutions/``, temporary folders), so
the course notebooks run as before.
"""

import re

import nbformat
import pytest
from conftest import CELL_TIMEOUT

from refacing_lib.course.notebooks import NOTEBOOKS_DIR, find_notebooks, run_notebooks

SOLUTIONS_DIR = NOTEBOOKS_DIR / "solutions"
SOLUTIONS = [nb.stem for nb in find_notebooks(SOLUTIONS_DIR)]


def test_every_course_notebook_has_its_solutions():
    course = [nb.stem for nb in find_notebooks()]
    assert [f"{stem}_solutions" for stem in course] == SOLUTIONS
    for stem in course:
        text = (NOTEBOOKS_DIR / f"{stem}.py").read_text()
        exercises = text.split("## Exercises", 1)[1]
        numbered = re.findall(r"^# (\d+)\. ", exercises, flags=re.MULTILINE)
        assert numbered == [str(n) for n in range(1, len(numbered) + 1)] and len(numbered) >= 4
        solution = (SOLUTIONS_DIR / f"{stem}_solutions.py").read_text()
        for n in range(1, len(numbered) + 1):
            assert f"## Exercise {n}" in solution, f"{stem}: exercise {n} has no solution"


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("stem", SOLUTIONS)
def test_solutions_run_in_quick_profile(tmp_path, stem, notebook_data):
    notebook_data(stem)
    (executed,) = run_notebooks("quick", tmp_path, only=[stem[:2]], notebooks_dir=SOLUTIONS_DIR,
                                log=lambda line: None, cell_timeout=CELL_TIMEOUT)
    nb = nbformat.read(executed, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert sum("assert " in c.source for c in nb.cells if c.cell_type == "code") >= 1
