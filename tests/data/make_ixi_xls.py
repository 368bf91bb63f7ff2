"""Write tests/data/IXI.xls: a tiny stand-in for IXI.xls in the old Excel (BIFF8) format.

Needs xlwt (``pip install xlwt==1.3.0``), which is not a dependency of the project: the file is
committed, and this script only documents how it was made (see README.md beside it).
Run from the repository root: ``python tests/data/make_ixi_xls.py tests/data/IXI.xls``.
"""
import datetime
import sys

import xlwt

COLUMNS = ["IXI_ID", "SEX_ID (1=m, 2=f)", "HEIGHT", "WEIGHT", "ETHNIC_ID", "MARITAL_ID",
           "OCCUPATION_ID", "QUALIFICATION_ID", "DOB", "DATE_AVAILABLE", "STUDY_DATE", "AGE"]
ROWS = [
    [2, 2, 164, 58, 1, 4, 1, 5, "1970-01-30", 1, "2005-11-18", 35.8],
    [12, 1, 175, 70, 1, 2, 1, 5, "1967-02-11", 1, "2005-11-18", 38.78],
    [13, 1, 182, 70, 1, 2, 1, 5, "1958-09-10", 1, "2005-11-18", 0],         # age 0: missing
    [14, 0, 163, 65, 1, 2, 1, 5, "1955-06-12", 1, "2005-09-26", 50.25],     # sex 0: missing
    [219, 1, 178, 80, 1, 2, 1, 5, "1944-11-09", 1, "2006-01-24", 61.2],
    [None] * 12,                                                            # an empty row
    [219, 1, 178, 80, 1, 2, 1, 5, "1944-11-09", 1, "2006-01-24", 61.2],     # identical duplicate
    [328, 2, 170, 60, 1, 2, 1, 5, "1975-08-20", 1, "2005-10-01", 30.1],
    [328, 1, 180, 60, 1, 2, 1, 5, "1974-09-01", 1, "2005-10-01", 31.0],     # conflicting: 1st wins
    [500, 0, 0, 0, 0, 0, 0, 0, None, 0, None, 0],                           # all missing ...
    [500, 1, 172, 75, 1, 1, 2, 3, "1961-05-05", 1, "2005-12-01", 44.5],     # ... then known
]
LOOKUPS = {"Ethnicity": ["ETHNIC_ID", "ETHNIC"], "Marital Status": ["MARITAL_ID", "MARITAL"],
           "Occupation": ["OCCUPATION_ID", "OCCUPATION"],
           "Qualification": ["QUALIFICATION_ID", "QUALIFICATION"]}

book = xlwt.Workbook()
date = xlwt.easyxf(num_format_str="yyyy-mm-dd")
table = book.add_sheet("Table")
for j, column in enumerate(COLUMNS):
    table.write(0, j, column)
for i, row in enumerate(ROWS, start=1):
    for j, value in enumerate(row):
        if isinstance(value, str):                  # DOB and STUDY_DATE: Excel date cells
            table.write(i, j, datetime.date.fromisoformat(value), date)
        elif value is not None:
            table.write(i, j, value)
for name, header in LOOKUPS.items():
    sheet = book.add_sheet(name)
    for j, column in enumerate(header):
        sheet.write(0, j, column)
        sheet.write(1, j, 1 if j == 0 else "example")
book.save(sys.argv[1])
