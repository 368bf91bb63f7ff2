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
# # Solutions · 03 · Slicing and datasets
#
# Worked solutions to the exercises at the end of `03_slicing_and_datasets`. They read the
# volumes that notebook 03 anonymized (and anonymize one test subject if it did not run) and
# build no dataset: the course's datasets stay as notebook 03 built them.

# %% tags=["parameters"]
data_source = "synthetic"  # "synthetic": the course's generated cohort;
                           # "ixi": the real IXI T1 data
data_dir = ""  # folder of the original volumes; empty: <data root>/synthetic or <data root>/ixi
synthetic_subjects = 12  # size of the synthetic cohort (generated where missing)
seed = 0  # seed of the synthetic cohort
faces = "human"  # the synthetic faces: "human" or "block" (the course profile's)
experiment = "all"  # the paper's split: "guys" or "all"
subject = 0  # which TEST subject to look at: its position among the test subjects
figure_dir = ""  # where figures are saved as PNG (make reproduce sets it); empty: not saved

# %%
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from refacing_lib.anonymize.files import deface_folder
from refacing_lib.data import ixi, synthetic
from refacing_lib.data.io import load_volume
from refacing_lib.data.layout import Layout
from refacing_lib.slicing.datasets import dataset_plan
from refacing_lib.slicing.slices import SPACINGS, midsagittal_index, slice_indices, subject_slices
from refacing_lib.viz import plotting

layout = Layout(data_source)  # where this data source's files lie under data/

folder = Path(data_dir) if data_dir else layout.originals
if data_source == "synthetic":
    synthetic.make_cohort(folder, subjects=synthetic_subjects, seed=seed, progress=False,
                          faces=faces)
    print(f"SYNTHETIC DATA: {synthetic_subjects} generated heads in {folder}, not real subjects.")
names = [p.name for p in ixi.list_volumes(folder)]
plan = dataset_plan(names, experiment)
name = plan.loc[plan["split"] == "test", "name"].unique()[subject]
original = load_volume(folder / name)
deface_folder([folder / name], layout.anonymized("remove"), "remove",
              progress=False)                              # done already if notebook 03 ran
removed = load_volume(layout.anonymized("remove") / name)
print(f"test subject {name}")

# %% [markdown]
# ## Exercise 1: loose spacing
#
# The 21 loose slices are 3.6 mm apart: they reach 36 mm either side of the middle instead of
# 18 mm. The outer ones cut through the eyes and the cheeks, which the tight slices (nose,
# lips, chin, the inner corners of the eyes) never reach.

# %%
tight = subject_slices(original, spacing="tight")
loose = subject_slices(original, spacing="loose")
print("tight offsets (mm):", tight["offsets_mm"][[0, 10, 20]].round(1))
print("loose offsets (mm):", loose["offsets_mm"][[0, 10, 20]].round(1))
assert np.isclose(loose["offsets_mm"].max(), 2 * tight["offsets_mm"].max(), atol=1.5)
assert np.isclose(tight["offsets_mm"].max(), 10 * SPACINGS["tight"], atol=1.0)

fig, axes = plt.subplots(2, 3, figsize=(10, 7), layout="constrained")
for row, (label, images) in zip(axes, (("tight", tight), ("loose", loose))):
    for ax, k in zip(row, (0, 10, 20)):
        ax.imshow(images["original"][k], cmap="gray", vmin=-1, vmax=1)
        ax.set_title(f"{label}: {images['offsets_mm'][k]:+.1f} mm", fontsize=9)
        ax.set_axis_off()
_ = plotting.save_figure(fig, figure_dir, "solution_tight_loose")

# %% [markdown]
# Why a dataset built with other settings is refused: a dataset folder is resumable, one
# subject at a time. Mixing settings would give a dataset whose first subjects have tight
# slices and the others loose ones, with nothing in the arrays to tell them apart, and every
# number measured on it would be wrong without a sign. Refusing until you say
# `overwrite=True` (which rebuilds it from scratch) makes that impossible; the safer default
# costs one keyword when you mean it.
#
# ## Exercise 2: each volume's own percentile
#
# Normalised by its own 99.5th percentile, the removed volume's slices are no longer on the
# original's scale: removal took away part of the bright facial fat, so its percentile is
# lower, and the untouched brain comes out brighter than in the original's slices. The network
# would have to learn that brightness change too.

# %%
reference = subject_slices(original, {"removed": removed})   # both on the original's scale
own = subject_slices(removed)                                   # its own percentile and planes
print(f"99.5th percentile: original {reference['scale']:.0f}, removed volume {own['scale']:.0f}")
same_planes = np.array_equal(own["indices"], reference["indices"])
print("same slice positions:", same_planes)
untouched = (reference["removed"] == reference["original"]) & (reference["original"] > -0.5)
assert same_planes       # removal leaves the head's centre in place: the same planes
difference = (own["original"] - reference["removed"])[untouched]
print(f"untouched tissue: mean difference {difference.mean():+.4f}, largest "
      f"{np.abs(difference).max():.4f} (pixel values in [-1, 1])")
assert own["scale"] <= reference["scale"]
assert 0 < difference.mean() < 0.05

# %% [markdown]
# About 1 % of the value range here: small, but over the whole brain, and in every training
# pair of a removed face. A percentile that moves with the anonymization would teach the
# network a brightness change that has nothing to do with faces.

# %% [markdown]
# ## Exercise 3: a head off centre
#
# Rolling the array 15 voxels along axis 0 moves the head 15 voxels (18 mm) to the right.
# The head's mid-plane follows it; the array's centre does not move, so with
# `midplane="array"` the slices stay where they were and miss the middle of the face by 18 mm.

# %%
shifted = replace(original, data=np.roll(original.data, 15, axis=0))
moves = {}
for midplane in ("head", "array"):
    before = slice_indices(original, midplane=midplane)
    after = slice_indices(shifted, midplane=midplane)
    moves[midplane] = int(np.median(after - before))
    print(f"midplane={midplane!r}: the mid-plane moves from "
          f"{midsagittal_index(original, midplane):.1f} "
          f"to {midsagittal_index(shifted, midplane):.1f}; "
          f"the slices move {moves[midplane]} voxels")
assert abs(moves["head"] - 15) <= 1
assert moves["array"] == 0

# %% [markdown]
# ## Exercise 4: the Guy's experiment's test split
#
# The Guy's experiment uses Guy's Hospital subjects only, for training and for testing: one
# scanner, one contrast. The network never has to generalise across sites, which is what the
# "all sites" experiment tests.

# %%
guys = dataset_plan(names, "guys")
test_sites = guys.loc[guys["split"] == "test"].drop_duplicates("name")["site"].value_counts()
print(test_sites)
assert set(test_sites.index) == {"Guys"}
assert set(guys["site"]) == {"Guys"}
