# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Solutions · 01 · The IXI T1 heads
#
# Worked solutions to the exercises at the end of `01_ixi_exploration`. Try each exercise
# first; every solution below runs on its own (it loads what it needs) and checks its answer
# with an `assert` where the exercise asks for a number. Nothing here changes the files the
# course notebooks use: what a solution writes goes to a temporary folder.

# %% tags=["parameters"]
data_source = "synthetic"  # "synthetic": the course's generated cohort;
                           # "ixi": the real IXI T1 data
data_dir = ""  # folder of the volumes; empty: <data root>/synthetic or <data root>/ixi
synthetic_subjects = 12  # size of the synthetic cohort (exercise 3 looks at all of it)
seed = 0  # seed of the synthetic cohort
faces = "human"  # the synthetic faces: "human" or "block" (the course profile's)
figure_dir = ""  # where figures are saved as PNG (make reproduce sets it); empty: not saved

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pandas as pd

from refacing_lib.data import ixi, synthetic
from refacing_lib.data.io import load_volume, save_volume
from refacing_lib.data.layout import Layout
from refacing_lib.slicing.slices import head_voxels, midsagittal_index
from refacing_lib.viz import plotting

layout = Layout(data_source)  # where this data source's files lie under data/

folder = Path(data_dir) if data_dir else layout.originals
if data_source == "synthetic":
    synthetic.make_cohort(folder, subjects=synthetic_subjects, seed=seed, progress=False,
                          faces=faces)
    print(f"SYNTHETIC DATA: generated heads from {folder}, not real subjects.")
paths = ixi.list_volumes(folder)
vol = load_volume(paths[0])

# %% [markdown]
# ## Exercise 1: save in another orientation, load it back
#
# `save_volume(..., orientation="LIP")` stores the array with axis 0 running to the **L**eft,
# axis 1 **I**nferior and axis 2 **P**osterior, and writes the affine that says so.
# `load_volume` reads that affine and turns the array back to RAS: the same array as before,
# voxel for voxel. `nib.aff2axcodes` reads the stored order from the file's affine.

# %%
with tempfile.TemporaryDirectory() as tmp:
    path = save_volume(Path(tmp) / "lip.nii.gz", vol.data, vol.affine, orientation="LIP")
    stored = nib.load(path)
    codes = nib.aff2axcodes(stored.affine)
    back = load_volume(path)
    print("stored shape:", stored.shape, " axis codes:", "".join(codes))
    print("RAS shape after loading:", back.shape)
    same = np.array_equal(back.data, vol.data) and np.allclose(back.affine, vol.affine)
    print("same RAS array and affine as before:", same)
assert codes == ("L", "I", "P")
assert same

# %% [markdown]
# ## Exercise 2: where the nose is longest
#
# The browser shows it by eye; the same can be measured. In every sagittal slice, take the
# most anterior head voxel of the lower half of the head (the face: nose, lips, chin), then
# the slice where it reaches furthest forward: that is the tip of the nose. Its distance from
# the mid-sagittal plane (the head's centre, notebook 03) is close to 0: the nose sits in the
# midline, so the longest nose is in the middle slices.

# %%
head = head_voxels(vol.data)
lower = head[:, :, : vol.shape[2] // 2]                       # inferior half: the face
has = lower.any(axis=(1, 2))
front = np.where(has, np.array([np.nonzero(s.any(axis=1))[0].max() if s.any() else -1
                                for s in lower]), -1)
tip = int(np.argmax(front))
middle = midsagittal_index(vol)
offset_mm = (tip - middle) * vol.zooms[0]
print(f"the face reaches furthest forward in sagittal slice {tip} "
      f"({front[tip] * vol.zooms[1]:.0f} mm from the back of the image); the mid-sagittal "
      f"plane is at {middle:.1f}: {offset_mm:+.1f} mm from the middle")
assert abs(offset_mm) <= 6.0

# %%
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
x_mm = (np.arange(vol.shape[0]) - middle) * vol.zooms[0]
ax.plot(x_mm[has], front[has] * vol.zooms[1])
ax.axvline(offset_mm, color="tab:red", ls="--", label="nose tip")
ax.set(xlabel="mm from the mid-sagittal plane", ylabel="front of the face (mm)",
       title="how far forward each sagittal slice reaches")
ax.legend()
plotting.save_figure(fig, figure_dir, "solution_nose_length")

# %% [markdown]
# ## Exercise 3: the brightest site
#
# The 99.5th percentile of every volume of the cohort, by site. On the synthetic data the
# Hammersmith (HH) volumes are built to be the brightest, as the real 3T scanner's are.

# %%
rows = []
for p in paths:
    name = ixi.parse_name(p)
    rows.append({"name": p.name, "id": name.id, "site": name.site,
                 "p99.5": np.percentile(load_volume(p).data, 99.5)})
table = pd.DataFrame(rows)
by_site = table.groupby("site")["p99.5"].agg(["count", "mean", "min", "max"]).round(0)
by_site

# %%
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
for i, (site, group) in enumerate(table.groupby("site")):
    ax.scatter(np.full(len(group), i), group["p99.5"], label=site)
ax.set_xticks(range(len(by_site)), by_site.index)
ax.set(ylabel="99.5th percentile", title="brightness per volume and site")
plotting.save_figure(fig, figure_dir, "solution_percentile_per_site")
brightest = by_site["mean"].idxmax()
print(f"brightest site: {brightest}")
if data_source == "synthetic":
    assert brightest == "HH"

# %% [markdown]
# ## Exercise 4: age against brightness (IXI only)
#
# Only the real IXI data comes with ages (`IXI.xls`). On the synthetic cohort there is
# nothing to plot; with `data_source = "ixi"` the cell below draws it. Expect the site to
# matter far more than the age: compare within one site.

# %%
xls = folder / "IXI.xls"
if xls.is_file():
    demo = ixi.load_demographics(xls, names=paths)
    merged = table.join(demo[["age"]], on="id").dropna(subset=["age"])
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    for site, group in merged.groupby("site"):
        ax.scatter(group["age"], group["p99.5"], s=8, label=site)
        print(site, "correlation of age and percentile:",
              round(group[["age", "p99.5"]].corr().iloc[0, 1], 2))
    ax.set(xlabel="age (years)", ylabel="99.5th percentile")
    ax.legend()
    plotting.save_figure(fig, figure_dir, "solution_age_percentile")
else:
    print(f"No {xls.name} in {folder}: exercise 4 needs the real IXI data "
          "(refacing fetch-ixi, then data_source = 'ixi').")
