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
# # Solutions · 02 · Defacing
#
# Worked solutions to the exercises at the end of `02_defacing`. Every solution runs on its
# own and checks its answer with an `assert` where the exercise asks for a number. Nothing is
# written to the course's data folders: the defaced volumes stay in memory.

# %% tags=["parameters"]
data_source = "synthetic"  # "synthetic": the course's generated cohort;
                           # "ixi": the real IXI T1 data
data_dir = ""  # folder of the volumes; empty: <data root>/synthetic or <data root>/ixi
subject = 0  # the notebook's subject (a Guy's head in the synthetic cohort)
seed = 0  # seed of the synthetic cohort
faces = "human"  # the synthetic faces: "human" or "block" (the course profile's)
figure_dir = ""  # where figures are saved as PNG (make reproduce sets it); empty: not saved

# %%
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import refacing_lib.anonymize.deface
from refacing_lib.anonymize.deface import DefaceError, deface, find_face
from refacing_lib.data import ixi, synthetic
from refacing_lib.data.io import load_volume
from refacing_lib.data.layout import Layout
from refacing_lib.viz import plotting

layout = Layout(data_source)  # where this data source's files lie under data/

folder = Path(data_dir) if data_dir else layout.originals
if data_source == "synthetic":
    synthetic.make_cohort(folder, subjects=max(subject + 1, 3), seed=seed, progress=False,
                          faces=faces)
    print(f"SYNTHETIC DATA: generated heads from {folder}, not real subjects.")
paths = ixi.list_volumes(folder)


def truth_masks(path):
    """The synthetic cohort's true brain and face masks of a volume, or None (IXI)."""
    stem = path.name.removesuffix(".nii.gz")
    files = {k: path.parent / "truth" / f"{stem}_{k}.nii.gz" for k in ("brain", "face")}
    if not all(p.is_file() for p in files.values()):
        return None
    return {k: load_volume(p).data > 0 for k, p in files.items()}


def changes(vol, finding, mask, truth):
    """One row of notebook 02's table for the changed-voxel mask of a method."""
    voxel_ml = float(np.prod(vol.zooms)) / 1000
    row = {"changed (ml)": mask.sum() * voxel_ml,
           "changed inside the head (ml)": (mask & finding.head).sum() * voxel_ml,
           "protected voxels changed": int((mask & finding.protected).sum())}
    if truth is not None:
        row["true brain voxels changed"] = int((mask & truth["brain"]).sum())
        row["true face changed (%)"] = 100 * (mask & truth["face"]).sum() / truth["face"].sum()
    return row


# %%
path = paths[subject]
vol = load_volume(path)
finding = find_face(vol)
truth = truth_masks(path)
results = {m: deface(vol, m, finding) for m in ("blur", "remove")}
rows = {(path.name[:6], m): changes(vol, finding, changed, truth)
        for m, (_, changed) in results.items()}
print(f"subject {subject}: {path.name}")

# %% [markdown]
# ## Exercise 1: another site
#
# The second and third heads of the synthetic cohort are a Hammersmith (HH) and an IOP head
# (see their names). `find_face` measures each head on its own, so the landmarks move with the
# head's size and position; the changed volumes stay of the same order. Compare them side by
# side with the notebook's subject.

# %%
others = [i for i, p in enumerate(paths) if ixi.parse_name(p).site != ixi.parse_name(path).site]
other = others[0]
other_path = paths[other]
other_vol = load_volume(other_path)
other_finding = find_face(other_vol)
other_truth = truth_masks(other_path)
for method in ("blur", "remove"):
    _, mask = deface(other_vol, method, other_finding)
    rows[other_path.name[:6], method] = changes(other_vol, other_finding, mask, other_truth)
landmarks = pd.DataFrame({path.name: finding.landmarks, other_path.name: other_finding.landmarks})
landmarks.round(1)

# %%
table = pd.DataFrame.from_dict(rows, orient="index")
table.round(1)

# %%
for (name, method), row in rows.items():
    assert row["protected voxels changed"] == 0
    if "true brain voxels changed" in row:
        assert row["true brain voxels changed"] == 0, (name, method)
ratio = {name: rows[name, "remove"]["changed (ml)"] / rows[name, "blur"]["changed (ml)"]
         for name in (path.name[:6], other_path.name[:6])}
print("removal changes this many times the volume that blurring changes:",
      {k: round(v, 1) for k, v in ratio.items()})
assert all(r > 1 for r in ratio.values())

# %% [markdown]
# Both heads: the brain untouched, removal changing several times more than blurring. The
# landmarks differ by a few millimetres, as heads do.
#
# ## Exercise 2: a thinner blurred layer
#
# `BLUR_LAYER_MM` is read when `deface` runs, so setting it on the module changes the next
# call (and every later one: set it back afterwards). With 4 mm, only the outer part of the
# nose and lips is smeared; the core of the nose keeps its values. Fewer voxels change, more of
# the face's shape survives: a thinner layer is easier to undo.

# %%
default_layer = refacing_lib.anonymize.deface.BLUR_LAYER_MM
try:
    refacing_lib.anonymize.deface.BLUR_LAYER_MM = 4.0
    thin, thin_changed = deface(vol, "blur", finding)
finally:
    refacing_lib.anonymize.deface.BLUR_LAYER_MM = default_layer
blurred, blur_changed = results["blur"]
print(f"changed voxels: {default_layer:g} mm layer {int(blur_changed.sum())}, "
      f"4 mm layer {int(thin_changed.sum())}")
assert thin_changed.sum() < blur_changed.sum()
assert refacing_lib.anonymize.deface.BLUR_LAYER_MM == default_layer

# %%
x_head = np.nonzero(finding.head.any(axis=(1, 2)))[0]
mid = int(x_head[0] + x_head[-1]) // 2
vmax = plotting.robust_max(vol.data)
fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), layout="constrained")
for ax, (title, data) in zip(axes, (("original", vol.data),
                                    (f"{default_layer:g} mm layer", blurred.data),
                                    ("4 mm layer", thin.data))):
    plotting.show_slice(ax, data, vol.zooms, axis=0, index=mid, vmax=vmax, title=title)
_ = plotting.save_figure(fig, figure_dir, "solution_thin_blur_layer")

# %% [markdown]
# ## Exercise 3: a method of your own
#
# Zero every voxel in front of the frontal pole and below the brow, outside the protected
# margin. It is a box in the sagittal plane, the same for every sagittal slice, like
# `face_region`.

# %%
y_mm = np.arange(vol.shape[1]) * vol.zooms[1]
z_mm = np.arange(vol.shape[2]) * vol.zooms[2]
box = ((y_mm[:, None] > finding.landmarks["frontal_pole_mm"])
       & (z_mm[None, :] < finding.landmarks["brow_mm"]))
mine = np.broadcast_to(box, vol.shape) & ~finding.protected
boxed = vol.data.copy()
boxed[mine] = 0
mine_changed = boxed != vol.data
rows_3 = {"box (mine)": changes(vol, finding, mine_changed, truth),
          "remove": rows[path.name[:6], "remove"]}
pd.DataFrame.from_dict(rows_3, orient="index").round(1)

# %%
assert rows_3["box (mine)"]["protected voxels changed"] == 0
assert (rows_3["box (mine)"]["changed inside the head (ml)"]
        < rows_3["remove"]["changed inside the head (ml)"])
if truth is not None:
    print(f"true face changed: box {rows_3['box (mine)']['true face changed (%)']:.0f} %, "
          f"remove {rows_3['remove']['true face changed (%)']:.0f} %")

# %% [markdown]
# The box changes a lot of air but little of the head: the frontal lobes reach almost as far
# forward as the face, so "in front of the frontal pole" holds only the tip of the nose. The
# face lies *below* the brain, behind the frontal pole; that is why `find_face` builds its
# face region from the front of the head at each height instead, down to the chin.

# %% [markdown]
# ## Exercise 4: a skull-stripped image
#
# A skull-stripped image has no skin and no face: `find_face` must refuse it rather than
# guess, and say why.

# %%
stripped = replace(vol, data=vol.data * finding.brain)
try:
    find_face(stripped)
except DefaceError as error:
    message = str(error)
    print("DefaceError:", message)
else:
    message = None
assert message is not None, "find_face accepted a skull-stripped image"

# %% [markdown]
# ## Exercise 5: the most lateral slice that removal changes
#
# Instead of sliding through the browser, read it off the changed-voxel mask. Counted over
# the whole array, removal changes every sagittal slice: it zeroes the background noise in
# front of the face across the whole field of view. What the exercise means is the head:
# the sagittal slices with at least one changed voxel inside the head mask, and the one
# furthest from the middle of the head.

# %%
_, remove_changed = results["remove"]
everywhere = np.nonzero(remove_changed.any(axis=(1, 2)))[0]
print(f"changed anywhere: sagittal slices {everywhere[0]}..{everywhere[-1]} of {vol.shape[0]}")
touched = np.nonzero((remove_changed & finding.head).any(axis=(1, 2)))[0]
furthest = touched[np.argmax(np.abs(touched - mid))]
lateral_mm = abs(furthest - mid) * vol.zooms[0]
print(f"changed inside the head: slices {touched[0]}..{touched[-1]}; the furthest from the "
      f"middle ({mid}) is {furthest}: {lateral_mm:.0f} mm")
assert 20 <= lateral_mm <= 90
