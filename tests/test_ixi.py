"""Tests of refacing_lib.data.ixi: names, sites, volume listing, the download's files, the paper's
splits, demographics."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pandas as pd
import pytest

from refacing_lib.data import ixi

# ------------------------------------------------------------------------------------------
# names


def test_parse_name_reads_id_site_number():
    parsed = ixi.parse_name("IXI002-Guys-0828-T1.nii.gz")
    assert parsed == ixi.IXIName(id=2, site="Guys", number=828, name="IXI002-Guys-0828-T1.nii.gz")
    assert parsed.id == 2 and parsed.site == "Guys" and parsed.number == 828


def test_parse_name_accepts_paths_and_all_sites():
    parsed = ixi.parse_name(Path("/data/ixi/IXI012-HH-1211-T1.nii.gz"))
    assert parsed == (12, "HH", 1211, "IXI012-HH-1211-T1.nii.gz")
    assert ixi.parse_name("some/dir/IXI640-IOP-1212-T1.nii.gz").site == "IOP"


@pytest.mark.parametrize(
    "bad",
    [
        "IXI002-Guys-0828-T2.nii.gz",  # another modality
        "IXI002-Guys-0828-T1.nii",  # not gzipped
        "IXI02-Guys-0828-T1.nii.gz",  # 2-digit id
        "IXI002-guys-0828-T1.nii.gz",  # site case
        "IXI002-KCL-0828-T1.nii.gz",  # unknown site
        "IXI002-Guys-0828-T1.nii.gz.bak",
        "IXI.xls",
        "",
    ],
)
def test_parse_name_rejects_other_names_with_a_helpful_message(bad):
    with pytest.raises(ValueError) as err:
        ixi.parse_name(bad)
    message = str(err.value)
    assert repr(bad) in message
    assert "IXI002-Guys-0828-T1.nii.gz" in message and "Guys|HH|IOP" in message


def test_sites_are_the_papers_table_1():
    assert list(ixi.SITES) == ["Guys", "HH", "IOP"]
    assert [s["subjects"] for s in ixi.SITES.values()] == [322, 185, 74]
    assert sum(s["subjects"] for s in ixi.SITES.values()) == 581
    assert [s["field_strength_t"] for s in ixi.SITES.values()] == [1.5, 3.0, 1.5]
    assert [s["slices"] for s in ixi.SITES.values()] == [150, 150, 146]
    assert ixi.SITES["Guys"]["name"] == "Guy's Hospital"
    table = pd.DataFrame.from_dict(ixi.SITES, orient="index")
    assert table.shape == (3, 5)


# ------------------------------------------------------------------------------------------
# list_volumes


def test_list_volumes_sorted_ignores_other_files_and_subfolders(tmp_path):
    for name in ["IXI013-HH-1212-T1.nii.gz", "IXI002-Guys-0828-T1.nii.gz",
                 "IXI640-IOP-1212-T1.nii.gz", "IXI.xls", "IXI-T1.tar",
                 "IXI002-Guys-0828-T2.nii.gz", "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "IXI003-Guys-0829-T1.nii.gz").write_bytes(b"x")
    (tmp_path / "IXI004-Guys-0830-T1.nii.gz").mkdir()  # a folder with a volume's name
    volumes = ixi.list_volumes(tmp_path)
    assert volumes == [tmp_path / "IXI002-Guys-0828-T1.nii.gz",
                       tmp_path / "IXI013-HH-1212-T1.nii.gz",
                       tmp_path / "IXI640-IOP-1212-T1.nii.gz"]
    assert ixi.list_volumes(str(tmp_path)) == volumes


def test_list_volumes_missing_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ixi.list_volumes(missing)


def test_list_volumes_empty_folder_says_how_to_get_data(tmp_path):
    (tmp_path / "IXI.xls").write_bytes(b"x")
    with pytest.raises(FileNotFoundError) as err:
        ixi.list_volumes(tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message
    assert (f"refacing synth --out {tmp_path}" in message
            and f"refacing fetch-ixi {tmp_path}" in message)


# ------------------------------------------------------------------------------------------
# download (tests/test_download.py runs it against a local server)


def test_ixi_files_are_the_real_archive_and_spreadsheet():
    assert [f.name for f in ixi.IXI_FILES] == ["IXI-T1.tar", "IXI.xls"]
    tar, xls = ixi.IXI_FILES
    assert tar.url == "http://biomedic.doc.ic.ac.uk/brain-development/downloads/IXI/IXI-T1.tar"
    assert tar.known_hash == "md5:34901a0593b41dd19c1a1f746eac2d58"
    assert xls.url == "http://biomedic.doc.ic.ac.uk/brain-development/downloads/IXI/IXI.xls"
    assert (xls.known_hash
            == "sha256:5b974cf58e9fe5101c91f594473fcd2b4c76ba2cf98fbd02d88174bd20a21c2b")


# ------------------------------------------------------------------------------------------
# paper_split


def cohort(guys: int, hh: int, iop: int, seed: int = 0) -> list[str]:
    """IXI-like names: the sites' subjects interleaved over increasing ids, shuffled order."""
    rng = random.Random(seed)
    sites = ["Guys"] * guys + ["HH"] * hh + ["IOP"] * iop
    rng.shuffle(sites)
    names = [f"IXI{i + 2:03d}-{site}-{rng.randrange(10000):04d}-T1.nii.gz"
             for i, site in enumerate(sites)]
    rng.shuffle(names)
    return names


def site_counts(names):
    counts = {}
    for name in names:
        site = ixi.parse_name(name).site
        counts[site] = counts.get(site, 0) + 1
    return counts


def test_ixi_sized_cohort_gives_the_papers_guys_split():
    names = cohort(322, 185, 74)
    assert len(names) == 581
    split = ixi.paper_split(names, "guys")
    assert (len(split.train), len(split.test)) == (300, 22)
    assert split.counts() == {"Guys": {"train": 300, "test": 22}}
    guys = sorted(n for n in names if "-Guys-" in n)
    assert split.test == guys[-22:]  # the LAST 22 sorted Guy's names
    assert split.train == guys[:300]


def test_ixi_sized_cohort_gives_the_papers_all_sites_split():
    names = cohort(322, 185, 74)
    split = ixi.paper_split(names, "all")
    assert (len(split.train), len(split.test)) == (500, 81)
    assert site_counts(split.train) == {"Guys": 284, "HH": 151, "IOP": 65}
    assert site_counts(split.test) == {"Guys": 38, "HH": 34, "IOP": 9}
    assert split.counts() == {"Guys": {"train": 284, "test": 38}, "HH": {"train": 151, "test": 34},
                              "IOP": {"train": 65, "test": 9}}
    for site, n_test in [("Guys", 38), ("HH", 34), ("IOP", 9)]:
        site_names = sorted(n for n in names if f"-{site}-" in n)
        assert [n for n in split.test if f"-{site}-" in n] == site_names[-n_test:]
    assert split.train == sorted(split.train) and split.test == sorted(split.test)


@pytest.mark.parametrize("experiment", ["guys", "all"])
@pytest.mark.parametrize("sizes", [(322, 185, 74), (6, 4, 2), (100, 50, 37), (2, 2, 2)])
def test_split_is_disjoint_and_complete(experiment, sizes):
    names = cohort(*sizes, seed=1)
    split = ixi.paper_split(names, experiment)
    assert not set(split.train) & set(split.test)
    used = {n for n in names if experiment == "all" or "-Guys-" in n}
    assert set(split.train) | set(split.test) == used
    assert len(split.train) + len(split.test) == len(used)
    train_ids = {ixi.parse_name(n).id for n in split.train}
    assert not train_ids & {ixi.parse_name(n).id for n in split.test}


def test_small_cohort_uses_the_proportional_rule():
    names = cohort(6, 4, 2)  # 12 subjects
    # guys: max(1, round(6 * 22/322 = 0.41)) = 1
    assert ixi.paper_split(names, "guys").counts() == {"Guys": {"train": 5, "test": 1}}
    # all: Guys 6*38/322 = 0.71 -> 1, HH 4*34/185 = 0.74 -> 1, IOP 2*9/74 = 0.24 -> 0 -> 1
    assert ixi.paper_split(names, "all").counts() == {
        "Guys": {"train": 5, "test": 1}, "HH": {"train": 3, "test": 1},
        "IOP": {"train": 1, "test": 1}}


def test_medium_cohort_rounds_half_up():
    names = cohort(100, 50, 37)
    # guys: 100*22/322 = 6.83 -> 7
    assert ixi.paper_split(names, "guys").counts() == {"Guys": {"train": 93, "test": 7}}
    # all: Guys 100*38/322 = 11.8 -> 12, HH 50*34/185 = 9.19 -> 9, IOP 37*9/74 = 4.5 -> 5
    assert ixi.paper_split(names, "all").counts() == {
        "Guys": {"train": 88, "test": 12}, "HH": {"train": 41, "test": 9},
        "IOP": {"train": 32, "test": 5}}


def test_one_subject_less_than_ixi_is_proportional():
    names = cohort(321, 185, 74)
    # 321*22/322 = 21.93 -> 22 ; 321*38/322 = 37.88 -> 38; the complete HH, IOP keep the paper's
    assert ixi.paper_split(names, "guys").counts() == {"Guys": {"train": 299, "test": 22}}
    assert ixi.paper_split(names, "all").counts() == {
        "Guys": {"train": 283, "test": 38}, "HH": {"train": 151, "test": 34},
        "IOP": {"train": 65, "test": 9}}


def test_split_accepts_paths_and_returns_file_names(tmp_path):
    names = cohort(6, 4, 2)
    by_name = ixi.paper_split(names, "all")
    by_path = ixi.paper_split([tmp_path / n for n in names], "all")
    assert by_path == by_name
    assert all("/" not in n for n in by_path.train + by_path.test)


def test_guys_experiment_ignores_other_sites_even_when_too_few():
    names = cohort(5, 1, 0)
    assert ixi.paper_split(names, "guys").counts() == {"Guys": {"train": 4, "test": 1}}


@pytest.mark.parametrize("sizes, experiment, site, found", [
    ((6, 4, 1), "all", "IOP", 1),
    ((6, 0, 2), "all", "HH", 0),
    ((1, 4, 2), "guys", "Guys", 1),
])
def test_site_with_fewer_than_two_subjects_raises(sizes, experiment, site, found):
    with pytest.raises(ValueError) as err:
        ixi.paper_split(cohort(*sizes), experiment)
    message = str(err.value)
    assert f"site {site}" in message and f"found {found}" in message and "at least 2" in message


def test_unknown_experiment_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        ixi.paper_split(cohort(6, 4, 2), "Guys")
    assert "'Guys'" in str(err.value) and "'all'" in str(err.value) and "'guys'" in str(err.value)


def test_duplicate_names_or_ids_raise():
    names = cohort(6, 4, 2)
    with pytest.raises(ValueError, match="more than once") as err:
        ixi.paper_split(names + [names[3]], "all")
    assert names[3] in str(err.value)
    with pytest.raises(ValueError, match="IXI002-IOP-0001-T1.nii.gz"):
        ixi.paper_split(names + ["IXI002-IOP-0001-T1.nii.gz"], "all")  # id 2 is already used


def test_split_rejects_non_ixi_names():
    with pytest.raises(ValueError, match="'IXI.xls'"):
        ixi.paper_split(cohort(6, 4, 2) + ["IXI.xls"], "all")


# ------------------------------------------------------------------------------------------
# demographics

COLUMNS = ["IXI_ID", "SEX_ID (1=m, 2=f)", "HEIGHT", "WEIGHT", "ETHNIC_ID", "MARITAL_ID",
           "OCCUPATION_ID", "QUALIFICATION_ID", "DOB", "DATE_AVAILABLE", "STUDY_DATE", "AGE"]
#: A tiny IXI.xls in the real file's old Excel (BIFF8) format and layout: sheet "Table" with the
#: columns above, the lookup sheets, date cells and the rows of ``ROWS`` (see
#: tests/data/README.md).
XLS_FIXTURE = Path(__file__).parent / "data" / "IXI.xls"


def row(ixi_id, sex, age, height=170):
    # IXI_ID, SEX, HEIGHT, WEIGHT, ETHNIC, MARITAL, OCCUPATION, QUALIFICATION,
    # DOB, AVAIL, STUDY, AGE
    return [ixi_id, sex, height, 70, 1, 2, 1, 5, "1968-02-22", 1, "2005-11-18", age]


#: The IXI quirks the demographics must handle; tests/data/IXI.xls holds the same IDs, sexes
#: and ages in this order.
ROWS = [
    row(2, 2, 35.8),
    row(12, 1, 38.78),
    row(13, 1, 0),  # age 0: missing
    row(14, 0, 50.25),  # sex 0: missing
    row(219, 1, 61.2),
    [None] * len(COLUMNS),  # an empty row
    row(219, 1, 61.2),  # identical duplicate
    row(328, 2, 30.1),
    row(328, 1, 31.0, height=180),  # conflicting duplicate: the first row wins
    row(500, 0, 0),
    row(500, 1, 44.5),  # the first non-missing value per column
]


def write_xlsx(path: Path, rows, sheet: str = "Table", columns=COLUMNS) -> Path:
    """A spreadsheet like IXI.xls in the current Excel format (openpyxl writes it; the old
    .xls format has no maintained writer), with a lookup sheet after ``sheet``."""
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame(rows, columns=columns).to_excel(writer, sheet_name=sheet, index=False)
        pd.DataFrame({"ETHNIC_ID": [1], "ETHNIC": ["example"]}).to_excel(
            writer, sheet_name="Ethnicity", index=False)
    return path


@pytest.fixture(params=["xls", "xlsx"])
def ixi_xls(request, tmp_path):
    """The committed .xls fixture, and the same rows written as .xlsx."""
    if request.param == "xls":
        return XLS_FIXTURE
    return write_xlsx(tmp_path / "IXI.xlsx", ROWS)


def test_xls_fixture_is_the_old_excel_format_with_ixi_layout():
    """tests/data/IXI.xls is a BIFF8 workbook (OLE2 compound file), as the real IXI.xls, with
    its sheets and columns and the rows of ``ROWS``."""
    assert XLS_FIXTURE.read_bytes()[:8] == bytes.fromhex("d0cf11e0a1b11ae1")
    sheets = pd.read_excel(XLS_FIXTURE, sheet_name=None, engine="calamine")
    assert list(sheets) == ["Table", "Ethnicity", "Marital Status", "Occupation",
                            "Qualification"]
    table = sheets["Table"]
    assert list(table.columns) == COLUMNS
    expected = pd.DataFrame(ROWS, columns=COLUMNS)
    for column in ("IXI_ID", "SEX_ID (1=m, 2=f)", "AGE"):
        assert table[column].astype(float).equals(expected[column].astype(float)), column
    assert pd.api.types.is_datetime64_any_dtype(table["DOB"])  # date cells, as in IXI.xls


def test_demographics_values(ixi_xls):
    table = ixi.load_demographics(ixi_xls)
    assert list(table.index) == [2, 12, 13, 14, 219, 328, 500]
    assert table.index.name == "id" and pd.api.types.is_integer_dtype(table.index)
    assert list(table.columns) == ["age", "sex", "site"]
    assert table["age"].dtype == float
    assert table.loc[2, "age"] == pytest.approx(35.8)
    assert table.loc[12, "age"] == pytest.approx(38.78)
    assert math.isnan(table.loc[13, "age"])
    assert table.loc[219, "age"] == pytest.approx(61.2)
    assert table.loc[328, "age"] == pytest.approx(30.1)
    assert table.loc[500, "age"] == pytest.approx(44.5)
    assert table.loc[[2, 12, 13, 219, 328, 500], "sex"].tolist() == ["F", "M", "M", "M", "F", "M"]
    assert table.loc[14, "sex"] is pd.NA
    assert table["site"].isna().all()


def test_demographics_site_from_names(ixi_xls, tmp_path):
    names = ["IXI002-Guys-0828-T1.nii.gz", tmp_path / "IXI012-HH-1211-T1.nii.gz",
             "IXI013-HH-1212-T1.nii.gz", "IXI640-IOP-1212-T1.nii.gz"]
    table = ixi.load_demographics(ixi_xls, names)
    assert list(table.index) == [2, 12, 13, 14, 219, 328, 500, 640]
    assert table.loc[[2, 12, 13, 640], "site"].tolist() == ["Guys", "HH", "HH", "IOP"]
    assert table.loc[[14, 219, 328, 500], "site"].isna().all()
    # a volume without a spreadsheet row still gets one, with age and sex missing
    assert math.isnan(table.loc[640, "age"]) and table.loc[640, "sex"] is pd.NA
    assert table.loc[2, "age"] == pytest.approx(35.8) and table.loc[2, "sex"] == "F"
    assert pd.api.types.is_integer_dtype(table.index)


def test_demographics_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.xls"):
        ixi.load_demographics(tmp_path / "absent.xls")


@pytest.mark.parametrize("content", ["text", "truncated"])
def test_demographics_unreadable_file(tmp_path, content):
    bad = tmp_path / "IXI.xls"
    if content == "text":
        bad.write_text("IXI_ID,AGE\n2,35.8\n")
    else:  # a download cut short
        bad.write_bytes(XLS_FIXTURE.read_bytes()[:3000])
    with pytest.raises(ValueError, match="not a readable IXI .xls") as err:
        ixi.load_demographics(bad)
    assert str(bad) in str(err.value)


def test_demographics_without_table_sheet(tmp_path):
    path = write_xlsx(tmp_path / "other.xlsx", [row(2, 2, 35.8)], sheet="Sheet1")
    with pytest.raises(ValueError, match="'Table'") as err:
        ixi.load_demographics(path)
    assert str(path) in str(err.value)


def test_demographics_without_age_column(tmp_path):
    path = write_xlsx(tmp_path / "IXI.xlsx", [[2, 2]], columns=["IXI_ID", "SEX_ID (1=m, 2=f)"])
    with pytest.raises(ValueError, match=r"\['AGE'\]") as err:
        ixi.load_demographics(path)
    assert str(path) in str(err.value)
