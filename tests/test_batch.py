"""refacing_lib.batch: finding NIfTI inputs, resumable parallel batches with failures collected."""

from pathlib import Path

import pytest

from refacing_lib.batch import BatchReport, find_nifti, run_batch, written


def shout(source: Path, output: Path) -> None:
    """A picklable job: write the upper-cased text of ``source``; refuse sources saying 'bad'."""
    text = source.read_text()
    if "bad" in text:
        raise ValueError(f"{source.name}: refusing a bad file\n(second line)")
    output.write_text(text.upper())


def interrupt_on_second(source: Path, output: Path) -> None:
    if source.name == "b.txt":
        raise KeyboardInterrupt
    shout(source, output)


def _sources(folder: Path, texts: dict[str, str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / name).write_text(text)
    return [folder / name for name in texts]


def _jobs(sources: list[Path], out: Path) -> list[tuple[Path, Path]]:
    out.mkdir(parents=True, exist_ok=True)
    return [(s, out / s.name) for s in sources]


# ---- run_batch ---------------------------------------------------------------------------------

def test_batch_writes_every_output_and_a_rerun_skips_them_untouched(tmp_path):
    jobs = _jobs(_sources(tmp_path / "in", {"a.txt": "a", "b.txt": "b", "c.txt": "c"}),
                 tmp_path / "out")
    report = run_batch(shout, jobs, progress=False)
    assert report.ok
    assert report.done == [s for s, _ in jobs] and report.skipped == [] and report.failed == {}
    assert [o.read_text() for _, o in jobs] == ["A", "B", "C"]
    mtimes = [o.stat().st_mtime_ns for _, o in jobs]

    again = run_batch(shout, jobs, progress=False)
    assert again.done == [] and again.skipped == [s for s, _ in jobs] and again.ok
    assert [o.stat().st_mtime_ns for _, o in jobs] == mtimes
    assert again.summary() == "0 written, 3 already done (skipped), 0 failed"


def test_one_failing_file_is_recorded_and_the_others_are_written(tmp_path):
    sources = _sources(tmp_path / "in", {"a.txt": "a", "b.txt": "bad", "c.txt": "c"})
    jobs = _jobs(sources, tmp_path / "out")
    (tmp_path / "out" / "a.txt").write_text("finished earlier")
    report = run_batch(shout, jobs, progress=False)
    assert not report.ok
    assert report.skipped == [sources[0]]
    assert report.done == [sources[2]]
    assert report.failed == {sources[1]: "ValueError: b.txt: refusing a bad file (second line)"}
    assert (tmp_path / "out" / "c.txt").read_text() == "C"
    assert (tmp_path / "out" / "a.txt").read_text() == "finished earlier"
    assert not (tmp_path / "out" / "b.txt").exists()
    summary = report.summary().splitlines()
    assert summary[0] == "1 written, 1 already done (skipped), 1 failed"
    assert summary[1:] == [f"  failed: {sources[1]}: ValueError: b.txt: refusing a bad file "
                           "(second line)"]

    # fixed input, second run: only the failed file is done
    sources[1].write_text("b")
    retry = run_batch(shout, jobs, progress=False)
    assert retry.done == [sources[1]] and retry.skipped == [sources[0], sources[2]] and retry.ok


def test_is_done_decides_what_is_finished(tmp_path):
    jobs = _jobs(_sources(tmp_path / "in", {"a.txt": "a", "b.txt": "b"}), tmp_path / "out")
    jobs[0][1].write_text("")  # an empty output counts as unfinished here
    report = run_batch(shout, jobs, is_done=lambda out: out.exists() and out.stat().st_size > 0,
                       progress=False)
    assert report.done == [s for s, _ in jobs]
    assert jobs[0][1].read_text() == "A"


def test_two_workers_give_the_same_outputs_and_report_as_one(tmp_path):
    texts = {f"{k}.txt": ("bad" if k == 3 else f"subject {k}") for k in range(6)}
    sources = _sources(tmp_path / "in", texts)
    reports = {}
    for workers in (1, 2):
        reports[workers] = run_batch(shout, _jobs(sources, tmp_path / f"out{workers}"),
                                     workers=workers, progress=False)
    assert reports[1] == reports[2]
    assert list(reports[2].failed) == [sources[3]] and len(reports[2].done) == 5
    for name in texts:
        if name != "3.txt":
            assert ((tmp_path / "out1" / name).read_text()
                    == (tmp_path / "out2" / name).read_text() == texts[name].upper())
    assert not (tmp_path / "out2" / "3.txt").exists()


def test_interrupt_propagates_and_finished_outputs_are_skipped_next_time(tmp_path):
    jobs = _jobs(_sources(tmp_path / "in", {"a.txt": "a", "b.txt": "b", "c.txt": "c"}),
                 tmp_path / "out")
    with pytest.raises(KeyboardInterrupt):
        run_batch(interrupt_on_second, jobs, progress=False)
    assert jobs[0][1].read_text() == "A" and not jobs[1][1].exists() and not jobs[2][1].exists()
    report = run_batch(shout, jobs, progress=False)
    assert report.skipped == [jobs[0][0]] and report.done == [jobs[1][0], jobs[2][0]]


def test_bad_workers_and_unpicklable_functions_are_refused(tmp_path):
    jobs = _jobs(_sources(tmp_path / "in", {"a.txt": "a"}), tmp_path / "out")
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        run_batch(shout, jobs, workers=0)
    with pytest.raises(TypeError, match="picklable"):
        run_batch(lambda s, o: None, jobs, workers=2)
    assert not jobs[0][1].exists()


def test_empty_report_is_ok():
    assert BatchReport().ok and BatchReport().summary().startswith("0 written")


# ---- find_nifti --------------------------------------------------------------------------------

def _touch(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")
    return [folder / name for name in names]


def test_find_nifti_takes_folders_and_files_in_order(tmp_path):
    b, a, c = _touch(tmp_path / "one", "b.nii.gz", "a.nii", "c.nii.gz")
    _touch(tmp_path / "one", "a_changed.nii.gz", ".part-d.nii.gz", "._e.nii.gz", "notes.txt",
           "f.nii.gz.md5")
    _touch(tmp_path / "one" / "sub", "deep.nii.gz")
    (single,) = _touch(tmp_path / "two", "z.nii.gz")
    assert find_nifti([single, tmp_path / "one"]) == [single, a, b, c]
    assert find_nifti([str(tmp_path / "one")]) == [a, b, c]


def test_find_nifti_refuses_missing_empty_and_colliding_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.nii.gz: no such file or folder"):
        find_nifti([tmp_path / "nowhere.nii.gz"])
    _touch(tmp_path / "empty", "x_changed.nii.gz", "readme.txt")
    with pytest.raises(FileNotFoundError, match="empty: no .nii or .nii.gz files"):
        find_nifti([tmp_path / "empty"])
    (txt,) = _touch(tmp_path, "volume.txt")
    with pytest.raises(ValueError, match="volume.txt: not a NIfTI file name"):
        find_nifti([txt])
    (one,) = _touch(tmp_path / "a", "s.nii.gz")
    (two,) = _touch(tmp_path / "b", "s.nii.gz")
    with pytest.raises(ValueError, match="same name"):
        find_nifti([tmp_path / "a", two])
    with pytest.raises(ValueError, match="same name"):
        find_nifti([one, tmp_path / "a"])


def test_written_replaces_the_file_at_once_and_leaves_nothing_behind_a_failure(tmp_path):
    final = tmp_path / "out.nii.gz"
    final.write_text("old")
    with written(final) as part:
        assert part == tmp_path / ".part-out.nii.gz" and part.parent == final.parent
        part.write_text("new")
        assert final.read_text() == "old"            # the final name changes only at the end
    assert final.read_text() == "new" and not part.exists()
    with pytest.raises(RuntimeError, match="disk full"):
        with written(final) as part:
            part.write_text("half")
            raise RuntimeError("disk full")
    assert final.read_text() == "new" and not part.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nii.gz"]

