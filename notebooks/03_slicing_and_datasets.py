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
# # 03 · Slicing: from volumes to the paper's training images
#
# **What you will learn**
#
# * why the paper trains a 2-D network on slices rather than a 3-D one on whole heads;
# * where the paper's 21 sagittal slices per subject fall, and how the mid-sagittal plane is
#   found;
# * how each slice is normalised (by the 99.5th percentile of the *original* volume, for the
#   anonymized slices too), and what that does to the intensities;
# * how subjects are split into training and test sets, per site, without a subject on both
#   sides;
# * how the slices are stored on disk and read back by a `tf.data` pipeline, paired or
#   unpaired.
#
# **Time**: about 20 minutes of reading; running takes 1-2 minutes on a laptop the first
# time (it anonymizes every subject of the cohort with both methods), seconds afterwards.
#
# **You need**: notebooks `01_ixi_exploration` (RAS arrays, sagittal slices) and
# `02_defacing` (the two anonymizations).

# %% tags=["parameters"]
data_source = "synthetic"  # "synthetic": the course's generated cohort;
                           # "ixi": the real IXI T1 data
data_dir = ""  # folder of the original volumes; empty: <data root>/synthetic or <data root>/ixi
synthetic_subjects = 12  # size of the synthetic cohort (generated where missing)
seed = 0  # seed of the synthetic cohort
faces = "human"  # the synthetic faces: "human" or "block" (the course profile's)
experiment = "all"  # the paper's split: "guys" (Guy's Hospital only) or "all" (three sites)
spacing = "tight"  # slice spacing: "tight" (1.8 mm, the paper's) or "loose" (3.6 mm)
subject = 0  # which TEST subject to show: its position among the test subjects
jobs = 2  # processes used to anonymize the cohort
figure_dir = ""  # where figures are saved as PNG (make reproduce sets it); empty: not saved

# %%
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from refacing_lib.anonymize.deface import METHODS
from refacing_lib.anonymize.files import deface_folders
from refacing_lib.data import ixi, synthetic
from refacing_lib.data.io import load_volume
from refacing_lib.data.layout import Layout
from refacing_lib.slicing.datasets import build_dataset, dataset_plan, open_dataset
from refacing_lib.slicing.pipelines import cyclegan_pipeline, paired_pipeline
from refacing_lib.slicing.slices import (
    N_SLICES,
    PERCENTILE,
    SPACINGS,
    midsagittal_index,
    normalisation_scale,
    slice_indices,
    subject_slices,
)
from refacing_lib.viz import plotting
from refacing_lib.viz.widgets import DatasetBrowser

layout = Layout(data_source)  # where this data source's files lie under data/

# %% [markdown]
# ## Why 2-D slices?
#
# A CycleGAN holds two generators and two discriminators, and each training step runs all four
# forward and backward. At 256 x 256 pixels one generator pass costs about 25 GFLOP and a
# training step about 400 GFLOP; the activations of one image already take hundreds of
# megabytes. A 3-D network on 150 x 256 x 256 volumes would multiply both by more than a
# hundred, beyond the 12 GB of the paper's Titan X. The paper therefore trains on 2-D
# **sagittal** slices, where the face is seen in profile, and says so in its discussion: "the
# choice to use a 2D GAN was made on the basis of constraints in available memory and
# processing time". The price is that nothing ties neighbouring slices together (notebook 06
# measures the discontinuities).
#
# From every subject the paper takes **21 sagittal slices**, from the original volume and
# from each anonymized version, so that the network sees the same anatomy with and without a
# face. All images are 256 x 256 pixels.

# %% [markdown]
# ## The data: originals and their anonymized versions
#
# The slices need each volume in three versions: original, blurred and removed. The cell below
# anonymizes every subject both ways with `deface_folders` (`deface_folder`, the function
# behind `refacing deface`, for several methods: it finds each face once for both); it skips
# the volumes already done, so it is quick the second time.

# %%
folder = Path(data_dir) if data_dir else layout.originals
if data_source == "synthetic":
    synthetic.make_cohort(folder, subjects=synthetic_subjects, seed=seed, progress=False,
                          faces=faces)
    print(f"SYNTHETIC DATA: {synthetic_subjects} generated heads in {folder}, not real subjects.")
paths = ixi.list_volumes(folder)
report = deface_folders([folder], {m: layout.anonymized(m) for m in METHODS},
                        jobs=jobs, progress=False)
print(f"{' and '.join(METHODS)}: {report.summary()}")

# %% [markdown]
# ## Training and test subjects
#
# The paper runs two experiments (section 3.3). "Guy's" uses the 322 subjects of Guy's
# Hospital, 300 for training and 22 for testing; "all sites" uses all 581, 500 for training
# (284 Guy's, 151 Hammersmith, 65 IOP) and 81 for testing (38, 34, 9). With 21 slices each
# that is 6300 / 462 and 10500 / 1701 images. As in the paper's scripts, the test subjects of
# a site are the last ones of its sorted file names, and the split is made **per subject**:
# the 21 slices of a subject are all in training or all in test. Splitting slices at random
# would put neighbouring slices of one head on both sides, and the test would measure memory,
# not refacing.
#
# On a cohort that is not the full IXI, each site keeps the paper's test fraction (at least
# one test subject per site). Here is the split of the data in use:

# %%
plan = dataset_plan([p.name for p in paths], experiment)
table = (plan.drop_duplicates("name").groupby(["site", "split"]).size().unstack(fill_value=0)
         [["train", "test"]])
table.loc["total"] = table.sum()
table["train images"] = table["train"] * N_SLICES
table["test images"] = table["test"] * N_SLICES
table

# %%
test_names = plan.loc[plan["split"] == "test", "name"].unique()
name = test_names[subject]
original = load_volume(folder / name)
anonymized = {m: load_volume(layout.anonymized(m) / name) for m in METHODS}
print(f"shown subject: {name} (a test subject), RAS shape {original.shape}")

# %% [markdown]
# ## Where the 21 slices fall
#
# The slices are placed symmetrically around the **mid-sagittal plane**, the plane that cuts
# the head into left and right halves. The paper's scripts took the centre of the left-right
# axis of the array. The course takes the centre of the head itself: the mean left-right
# position of the voxels brighter than the Otsu threshold. For a head centred in its field of
# view the two agree; for one that is not, the array centre would put the slices off to one
# side. Both are available (`midplane="head"` or `"array"`).
#
# The paper's slices are about 1.5 voxels apart (1.8 mm at IXI's 1.2 mm), so the 21 slices
# cover 36 mm around the middle: the nose, the lips, the chin and the eyes' inner corners.
# `spacing="loose"` doubles the distance (72 mm), reaching the eyes and cheeks. The positions
# are computed once, from the original, and used for all three versions.

# %%
centre = {m: midsagittal_index(original, m) for m in ("head", "array")}
positions = {s: slice_indices(original, spacing=s) for s in SPACINGS}
for plane, index in centre.items():
    print(f"mid-sagittal plane from the {plane}: index {index:.1f} "
          f"({index * original.zooms[0]:.1f} mm)")
print(f"{spacing} slices: indices {positions[spacing].tolist()}")

# %%
z_eyes = int(original.shape[2] * 0.45)
fig, axes = plt.subplots(1, 2, figsize=(11, 5), layout="constrained")
for ax, (kind, indices), color in zip(axes, positions.items(), ("tab:orange", "tab:cyan")):
    plotting.show_slice(ax, original.data, original.zooms, axis=2, index=z_eyes,
                        title=f"axial slice {z_eyes}: 21 {kind} slices ({SPACINGS[kind]} mm)")
    for i in indices:
        ax.axvline((i + 0.5) * original.zooms[0], color=color, lw=0.8)
    ax.axvline((centre["array"] + 0.5) * original.zooms[0], color="white", ls="--", lw=1,
               label="array centre")
    ax.legend(loc="lower right", fontsize=8)
plotting.save_figure(fig, figure_dir, "slice_positions");

# %% [markdown]
# ## Normalisation: one scale per subject, taken from the original
#
# MRI intensities have no unit: they depend on the scanner, the coil and the subject. Each
# slice is therefore divided by the 99.5th percentile of its subject's **original** volume,
# and the anonymized slices are divided by the same number, not by their own. Anonymization
# changes the brightest voxels (fat under the skin of the face is among them), so each version
# has a slightly different percentile of its own; normalised by it, the untouched brain would
# differ in brightness between the domains, and the network would have to learn a brightness
# change as well as a face. Then the images are mapped from [0, 1] to [-1, 1], the range of
# the generator's final tanh. The 0.5 % of the volume's voxels above the percentile are
# clipped at 1; few of them lie in the 21 middle slices.

# %%
scale = normalisation_scale(original)
versions = {"original": original, "blurred": anonymized["blur"], "removed": anonymized["remove"]}
fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
for label, vol in versions.items():
    head = vol.data[vol.data > 0.05 * scale]
    axes[0].hist(head, bins=200, histtype="step", label=label)
    own = np.percentile(vol.data, PERCENTILE)
    print(f"{label}: own 99.5th percentile {own:.0f}, the original's {scale:.0f}")
axes[0].axvline(scale, color="k", ls="--", label=f"original's {PERCENTILE}th percentile")
axes[0].set(xlabel="intensity (scanner units)", ylabel="voxels", yscale="log",
            title="before: voxel intensities of the volumes (head only)")
images = subject_slices(original, {"blurred": anonymized["blur"], "removed": anonymized["remove"]},
                        spacing=spacing)
for label in versions:
    axes[1].hist(images[label].ravel(), bins=200, histtype="step", label=label)
axes[1].set(xlabel="pixel value", ylabel="pixels", yscale="log",
            title="after: the 21 slices in [-1, 1]")
for ax in axes:
    ax.legend(fontsize=8)
plotting.save_figure(fig, figure_dir, "normalisation_histograms")
clipped = (images["original"] == 1).mean()
print(f"pixels clipped at 1 in the original's slices: {100 * clipped:.2f} %")

# %% [markdown]
# Each version's own percentile differs a little from the original's; with the original's
# scale, the tissue that anonymization left alone has exactly the same pixel values in all
# three versions. In the right panel the removed slices have more pixels at -1 (the zeroed
# face), and otherwise the three curves nearly overlap.
#
# ## Image geometry: millimetre-faithful pixels, face to the right
#
# A pixel always measures 0.9375 mm, IXI's in-plane voxel size, so 256 pixels span 240 mm.
# A volume with other voxels is resampled (linear interpolation) to that pixel size; then the
# slice is centred and padded with zeros or cropped evenly to 256 x 256. IXI slices
# (256 x 256 voxels of 0.9375 mm) pass unchanged. The image shows the face to the right and
# the top of the head up, as in the paper's figures: row 0 is the top, the last column the
# front. Here is the paper's Fig. 3 for this subject: all 21 slices, in three versions.

# %%
for label in versions:
    fig, axes = plt.subplots(3, 7, figsize=(14, 6.3), layout="constrained")
    for k, ax in enumerate(axes.flat):
        ax.imshow(images[label][k], cmap="gray", vmin=-1, vmax=1)
        ax.set_title(f"{images['offsets_mm'][k]:+.1f} mm", fontsize=8)
        ax.set_axis_off()
    fig.suptitle(f"{name}: the 21 {label} slices (offset from the mid-sagittal plane)")
    plotting.save_figure(fig, figure_dir, f"fig3_{label}")

# %% [markdown]
# ## The datasets on disk
#
# One dataset per experiment and anonymization: domain A is the anonymized slices, domain B
# the original ones, and row *i* of A and of B is the same slice of the same subject. The
# images are stored as 16-bit integers (`u = round((x + 1) * 32767.5)`, exact to 1.5e-5) in
# `.npy` files that open memory-mapped, so even the full IXI (about 3.2 GB per dataset for
# "all sites") is never loaded into memory at once. A table lists subject, site, slice and
# scale of every row. Building streams one subject at a time, resumes after an interruption,
# and does nothing when the dataset is already there with the same settings.

# %%
folders = {}
for method in METHODS:
    start = time.perf_counter()
    folders[method] = build_dataset(folder, layout.anonymized(method),
                                    layout.dataset(experiment, method),
                                    experiment=experiment, spacing=spacing, progress=False)
    print(f"    {time.perf_counter() - start:.1f} s")
ds = open_dataset(folders["blur"])
ds.metadata.head(3)

# %% [markdown]
# The same command from a terminal builds (or checks) a dataset:
#
# ```bash
# .venv/bin/refacing slices --experiment all --method blur      # --source ixi for the real data
# ```
#
# ## Feeding the network: `tf.data`
#
# The CycleGAN is trained on **unpaired** images: its premise is that it never needs to know
# which original belongs to which anonymized slice, so the two domains are shuffled
# independently. A supervised model (Pix2Pix, which the paper suggests as future work) takes
# **paired** batches instead. Both pipelines read the memory-mapped arrays, can shrink the
# images (the quick profile trains at 128 or 64 pixels), and shuffle with a permutation that
# depends only on the seed and the epoch, so that a resumed training sees the same batches.
#
# The first use imports TensorFlow, which takes a few seconds; on a machine without a GPU it
# prints a few lines about CUDA drivers, which are harmless.

# %%
unpaired = next(iter(cyclegan_pipeline(ds, batch_size=4, image_size=128, seed=seed)))
paired = next(iter(paired_pipeline(ds, batch_size=4, image_size=128, seed=seed)))
a, b = unpaired
print(f"a batch: A {a.shape} {a.dtype.name}, B {b.shape}, values {float(a.numpy().min()):.2f} "
      f"to {float(a.numpy().max()):.2f}")
fig, axes = plt.subplots(4, 4, figsize=(9, 9.4), layout="constrained")
for col, (title, (a, b)) in enumerate([("unpaired", unpaired), ("paired", paired)]):
    for row in range(4):
        for k, (batch, domain) in enumerate(((a, "A"), (b, "B"))):
            ax = axes[row, 2 * col + k]
            ax.imshow(batch[row, ..., 0], cmap="gray", vmin=-1, vmax=1)
            ax.set_title(f"{title} {domain}", fontsize=9)
            ax.set_axis_off()
plotting.save_figure(fig, figure_dir, "batches_unpaired_paired");

# %%
start, count = time.perf_counter(), 0
for a, b in cyclegan_pipeline(ds, batch_size=1, image_size=128, seed=seed):
    count += 1
rate = count / (time.perf_counter() - start)
print(f"{count} unpaired pairs at 128 x 128 in one epoch: {rate:.0f} pairs per second")

# %% [markdown]
# A training step at 128 x 128 takes about 0.6 s on a 2-core CPU (notebook 05), so the
# pipeline is far from being the bottleneck; `benchmarks/bench_datasets.py` measures it at
# every size.
#
# ## Browse a dataset
#
# The figures above are what a saved notebook shows. In a running notebook the browser below
# shows any pair of the dataset: choose the split and move the slider; the title says which
# subject, site and slice it is.

# %%
DatasetBrowser(ds, split="test")

# %% [markdown]
# ## Summary
#
# * The paper trains a 2-D CycleGAN on sagittal slices because a 3-D one did not fit its
#   memory and time; the cost is that neighbouring slices are refaced independently.
# * 21 slices per subject, 1.8 mm apart around the mid-sagittal plane (the head's centre here,
#   the array's in the paper's scripts), at the same positions in every version.
# * Every slice, anonymized or not, is divided by the original volume's 99.5th percentile,
#   mapped to [-1, 1], and shown face-right, top-up in 0.9375 mm pixels, 256 x 256.
# * Subjects, not slices, are split: 300 / 22 (Guy's) or 500 / 81 (all sites) on IXI.
# * `refacing slices` writes one memory-mapped dataset per experiment and anonymization;
#   `cyclegan_pipeline` and `paired_pipeline` feed it to the models.
#
# ## Exercises
#
# 1. Set `spacing = "loose"` and run again. Which facial features appear in the outer slices
#    that the tight slices do not reach? (A dataset built with other settings is refused until
#    you pass `overwrite=True`: why is that the safer default?)
# 2. Compute the slices of the removed volume with its *own* 99.5th percentile
#    (`subject_slices(anonymized["remove"])["original"]`) and compare the brain's pixel values
#    with the ones above. How large is the difference?
# 3. Shift the head: `np.roll(original.data, 15, axis=0)` in a `Volume` (use
#    `dataclasses.replace`). How far do the slices move with `midplane="head"` and with
#    `midplane="array"`?
# 4. Count the subjects of each site in the test split of `dataset_plan(..., "guys")`. Why
#    does the Guy's experiment need no other site?
#
# Worked solutions: `solutions/03_slicing_and_datasets_solutions.py` (try first).
#
# ## Further reading
#
# * D. Abramian and A. Eklund, "Refacing: reconstructing anonymized facial features using
#   GANs", IEEE ISBI 2019, section 3.3 (the slices, the splits) and the discussion (why 2-D).
# * P. Isola et al., "Image-to-image translation with conditional adversarial networks"
#   (Pix2Pix), CVPR 2017: the paired alternative the paper names as future work.
# * The tf.data guide, tensorflow.org/guide/data, and "Better performance with the tf.data
#   API" (tensorflow.org/guide/data_performance): shuffling, prefetching, memory-mapped inputs.
#
# Next: `04_cyclegan_model`, the networks that learn to turn domain A into domain B.
