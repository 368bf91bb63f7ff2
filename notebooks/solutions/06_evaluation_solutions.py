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
# # Solutions · 06 · Evaluation
#
# Worked solutions to the exercises at the end of `06_evaluation`. They evaluate the course's
# quick run (trained here with the course's settings if notebook 05 has not done it) and
# write nothing but figures.

# %% tags=["parameters"]
data_source = "synthetic"  # "synthetic" or "ixi"
experiments = ["all-remove"]  # EXPERIMENT-METHOD runs to evaluate
image_size = 64  # the course's training settings, for a run that is missing
filters = 16
residual_blocks = 6
disc_filters = 32
batch_size = 1
epochs = 3
input_skip = True
supervised_weight = 1000.0
supervised_loss = "mse"
checkpoint_every = 1
seed = 0
figure_dir = ""  # where figures are saved as PNG (make reproduce sets it); empty: not saved

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from refacing_lib.course.profiles import experiments as experiment_list
from refacing_lib.data.layout import Layout
from refacing_lib.evaluate.evaluation import CHANGE_TOLERANCE, evaluate, gallery_profiles
from refacing_lib.evaluate.reidentify import face_profile, identification_rates, profile_distances
from refacing_lib.model.training import TrainConfig, load_generator, run_config, train
from refacing_lib.slicing.datasets import open_dataset
from refacing_lib.viz import plotting

layout = Layout(data_source)  # where this data source's files lie under data/

course = TrainConfig(image_size=image_size, filters=filters, residual_blocks=residual_blocks,
                     disc_filters=disc_filters, batch_size=batch_size, epochs=epochs,
                     input_skip=input_skip, supervised_weight=supervised_weight,
                     supervised_loss=supervised_loss, checkpoint_every=checkpoint_every,
                     seed=seed)
if data_source.startswith("synthetic"):
    print("SYNTHETIC DATA: the heads are the course's generated cohort, not real subjects.")
evaluations, generators, gallery = {}, {}, None
for experiment, method in experiment_list({"experiments": experiments}):
    ds = open_dataset(layout.dataset(experiment, method))
    run = layout.run(experiment, method)
    if run_config(run) is None:                          # not trained yet: as notebook 06 would
        train(ds, run, course, progress=False, log=lambda line: None)
    generators[method] = load_generator(run)
    size = generators[method].input_shape[1]
    if gallery is None or gallery[1].shape[-1] != size:   # the same subjects for every run
        gallery = gallery_profiles(ds, layout.originals, size)
    evaluations[method] = evaluate(ds, generators[method], gallery)
print("gallery:", gallery[2])


def by_subject(values, scores):
    """Stack per-slice rows (k, ...) into (subjects, 21, ...) in the order of the gallery."""
    subjects = list(dict.fromkeys(scores["name"]))
    return subjects, np.stack([values[np.asarray(scores["name"] == s)][np.argsort(
        scores["position"][scores["name"] == s].to_numpy())] for s in subjects])


# %% [markdown]
# ## Exercise 1: against guessing
#
# With 12 faces in the gallery, guessing finds the right person first 1 time in 12 and among
# the first five 5 times in 12. The attack compares the facial profile (the distance from the
# front of the image to the skin) on the rows the anonymization changed: for blurring, rows
# whose skin was smeared but whose outline is still there, so the anonymized row can stay far
# above guessing; for removal, rows where the anonymized face is gone, and what is left there
# is the cut made by the defacer, the same for everyone, so the anonymized row falls to about
# guessing. The average face pastes the same face on everyone: it cannot do better than
# guessing except through what the anonymization left outside the pasted face.

# %%
rates = pd.concat({m: ev.identification for m, ev in evaluations.items()})
gallery_size = int(rates["gallery"].iloc[0])
rates["top-1 chance"], rates["top-5 chance"] = 1 / gallery_size, min(1.0, 5 / gallery_size)
rates.round(3)

# %%
assert gallery_size == 12
for method, ev in evaluations.items():
    changed = np.abs(ev.images["anonymized"] - ev.images["original"]) > CHANGE_TOLERANCE
    rows = changed[..., size // 2:].any(axis=-1)
    print(f"{method}: the attack compares {rows.mean():.0%} of the rows of each slice "
          f"({rows.sum(axis=1).mean():.0f} of {size})")

# %% [markdown]
# ## Exercise 2: the lower face only
#
# The nose tip is the most anterior point of the original profile; the lower face is every
# compared row below it (lips and chin). `profile_distances` takes the rows to compare as a
# mask, so restricting it is one `&`.

# %%
lower_rates = {}
for method, ev in evaluations.items():
    changed = np.abs(ev.images["anonymized"] - ev.images["original"]) > CHANGE_TOLERANCE
    subjects, rows = by_subject(changed[..., size // 2:].any(axis=-1), ev.scores)
    _, original_profiles = by_subject(face_profile(ev.images["original"]), ev.scores)
    nose = np.nanargmin(np.where(np.isnan(original_profiles), np.inf, original_profiles),
                        axis=-1)                                    # (subjects, 21)
    below_nose = np.arange(size)[None, None, :] > nose[..., None] + 2
    lower = rows & below_nose
    assert lower.sum() < rows.sum()
    owners = np.array([gallery[0].index(s) for s in subjects])
    for version in ("original", "refaced", "anonymized"):
        _, profiles = by_subject(face_profile(ev.images[version]), ev.scores)
        for label, keep in (("all changed rows", rows), ("below the nose", lower)):
            found = identification_rates(profile_distances(profiles, gallery[1], keep), owners,
                                         (1, 5))
            lower_rates[method, version, label] = found[1]
lower_table = pd.Series(lower_rates).unstack()
lower_table["lost"] = lower_table["all changed rows"] - lower_table["below the nose"]
lower_table.round(3)

# %%
assert (lower_table.to_numpy().min() >= -1
        and lower_table[["all changed rows", "below the nose"]].le(1).all().all())
print("loses most:", lower_table["lost"].idxmax())

# %% [markdown]
# With fewer rows there is less to match, and the versions that relied on the nose (for
# blurring, the outline of the nose survives) lose most; with 3 probes a single probe moves a
# rate by a third, so read it as a way to ask the question, and ask it again on the
# pretrained model's 17 probes or the real data.
#
# ## Exercise 3: what training longer moves
#
# Retraining with `epochs = 6` takes minutes. The same question can be asked of the run you
# have: it keeps its last three checkpoints, one per epoch, so evaluating each of them shows
# how the measures move as training goes on. (Notebook 06 evaluates each run with the
# settings it was trained with, `training.run_config`, so a run trained longer in notebook 05
# is evaluated as it is.)

# %%
method = "remove" if "remove" in evaluations else next(iter(evaluations))
ev = evaluations[method]
ds = open_dataset(layout.dataset(ev.experiment, method))
run = layout.run(ev.experiment, method)
steps = {}
for checkpoint in sorted((run / "checkpoints").glob("step_*.npz")):
    with tempfile.TemporaryDirectory() as tmp:               # load_generator reads the latest
        (Path(tmp) / "checkpoints").mkdir()
        os.symlink(checkpoint, Path(tmp) / "checkpoints" / checkpoint.name)
        at = evaluate(ds, load_generator(tmp), gallery)
    means = at.scores[["refaced correlation", "refaced ssim", "refaced mae_changed"]].mean()
    steps[int(checkpoint.stem.split("_")[1])] = {
        **means, "top-1 refaced": at.identification.loc["refaced", "top-1"]}
progress = pd.DataFrame(steps).T.rename_axis("step")
progress.round(3)

# %%
last = progress.iloc[-1]
assert np.isclose(last["refaced correlation"], ev.scores["refaced correlation"].mean())
change = progress.iloc[-1] - progress.iloc[0]
print(f"from step {progress.index[0]} to step {progress.index[-1]}:")
print(change.round(3).to_string())

# %% [markdown]
# The pixel measures move a little and smoothly (most pixels were never anonymized and are
# already right); the top-1 rate moves by whole probes, a third at a time with 3 probes, so
# it either does not move or jumps. That is the lesson: a rate from a few probes needs its
# confidence interval before it says anything.
#
# ## Exercise 4: the slice that refacing improved most

# %%
gain = ev.scores["refaced correlation"] - ev.scores["anonymized correlation"]
best = int(gain.idxmax())
row = ev.scores.loc[best]
print(f"{row['subject']} ({row['site']}), {row['offset_mm']:+.1f} mm: correlation "
      f"{row['anonymized correlation']:.3f} anonymized -> "
      f"{row['refaced correlation']:.3f} refaced")
assert gain[best] > 0
fig, axes = plt.subplots(1, 3, figsize=(9, 3.4), layout="constrained")
for ax, version in zip(axes, ("anonymized", "refaced", "original")):
    ax.imshow(ev.images[version][best], cmap="gray", vmin=-1, vmax=1)
    ax.set_title(version)
    ax.set_axis_off()
_ = plotting.save_figure(fig, figure_dir, "solution_best_slice")

# %% [markdown]
# Yes: the refaced slice has a face where the anonymized one had none, of about the right
# size and place, which is what raises the correlation on the front half. It is smoother than
# the original: the correlation rewards the right outline more than the right details.
