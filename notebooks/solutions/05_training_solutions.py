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
# # Solutions · 05 · Training
#
# Worked solutions to the exercises at the end of `05_training`. The course's runs are only
# read (and trained with the course's settings if notebook 05 or 06 has not made them yet).
# The other trainings here are deliberately tiny, `steps` steps each, in run folders of
# their own under `<data root>/runs/solutions/`: enough to see each effect start, in about a
# minute on a laptop. Train them longer (notebook 05 with `run_name`) to see it grow.

# %% tags=["parameters"]
data_source = "synthetic"  # "synthetic" or "ixi": whose slice datasets
experiment = "all"  # the paper's split: "guys" or "all"
image_size = 64  # the course's training settings (notebook 05's parameters)
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
steps = 20  # steps of each tiny training of these solutions
figure_dir = ""  # where figures are saved as PNG (make reproduce sets it); empty: not saved

# %%
import shutil
from dataclasses import replace

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from refacing_lib.data.layout import Layout
from refacing_lib.evaluate.evaluation import CHANGE_TOLERANCE
from refacing_lib.evaluate.pretrained import load_pretrained
from refacing_lib.model.reface import reface_dataset
from refacing_lib.model.training import TrainConfig, load_generator, run_config, train
from refacing_lib.slicing.datasets import open_dataset
from refacing_lib.slicing.slices import shrink
from refacing_lib.viz import plotting

layout = Layout(data_source)  # where this data source's files lie under data/

course = TrainConfig(image_size=image_size, filters=filters, residual_blocks=residual_blocks,
                     disc_filters=disc_filters, batch_size=batch_size, epochs=epochs,
                     input_skip=input_skip, supervised_weight=supervised_weight,
                     supervised_loss=supervised_loss, checkpoint_every=checkpoint_every,
                     seed=seed)
tiny = replace(course, epochs=2, steps_per_epoch=steps // 2)   # 2 epochs: two sample grids
solutions = layout.root / "runs" / "solutions"
quiet = {"progress": False, "log": lambda line: None}
datasets = {m: open_dataset(layout.dataset(experiment, m)) for m in ("remove", "blur")}
if data_source.startswith("synthetic"):
    print("SYNTHETIC DATA: the slices come from the course's generated heads, not real subjects.")


def errors(generator, ds):
    """Mean |x - original| of the anonymized and refaced test slices, over the pixels the
    anonymization changed and over those it kept (notebook 05's two numbers)."""
    size = generator.input_shape[1]
    original = shrink(ds.images("test", "B"), size)
    anonymized = shrink(ds.images("test", "A"), size)
    refaced = reface_dataset(generator, ds, "test")
    hidden = np.abs(anonymized - original) > CHANGE_TOLERANCE
    return {"anonymized, changed": np.abs(anonymized - original)[hidden].mean(),
            "refaced, changed": np.abs(refaced - original)[hidden].mean(),
            "refaced, kept": np.abs(refaced - original)[~hidden].mean()}


# %% [markdown]
# ## Exercise 1: blurring or removal?
#
# Notebook 05 trains the removal run; `method = "blur"` there trains the blurring run with the
# same settings (1-2 minutes). The table holds the runs of yours that are trained and, for
# both anonymizations, the pretrained model of notebook 06, all measured on the same test
# slices of the quick datasets (each model at its own size).

# %%
course_run = layout.run(experiment, "remove")
if run_config(course_run) is None:                    # notebook 05's run, trained if missing
    train(datasets["remove"], course_run, course, **quiet)
table = {}
for method, ds in datasets.items():
    run = layout.run(experiment, method)
    if run_config(run) is not None:                      # trained: notebook 05, this exercise
        table["your run", method] = errors(load_generator(run), ds)
    table["pretrained", method] = errors(load_pretrained(method), ds)
table = pd.DataFrame(table).T
table["left of the change"] = table["refaced, changed"] / table["anonymized, changed"]
table.round(3)

# %%
for name, row in table.iterrows():
    assert row["refaced, changed"] < row["anonymized, changed"], name
for model in dict.fromkeys(table.index.get_level_values(0)):     # both methods trained
    if (model, "blur") in table.index and (model, "remove") in table.index:
        blur, remove = table.loc[(model, "blur")], table.loc[(model, "remove")]
        assert blur["refaced, changed"] < remove["refaced, changed"], model

# %% [markdown]
# Blurring is undone better: the refaced blurred faces end closer to the originals than the
# refaced removed ones, because the blurred face still holds its shape and intensities and
# the generator only has to sharpen it (a deconvolution), while a removed face must be
# invented (inpainting). Removal starts much further away, so the part of its error that is
# taken away can be as large; what is left is larger.
#
# ## Exercise 2: the paper's setting
#
# Without `input_skip` the generators start as random networks, and without the supervised
# term nothing tells them which face belongs to which head. After a short training they do
# not even copy the head yet: the pixels the anonymization kept, which the course's run
# leaves nearly untouched, are badly off, as in the table's "the paper's setting" row.

# %%
paper_run = solutions / "05-paper-setting"
shutil.rmtree(paper_run, ignore_errors=True)
paper = replace(tiny, input_skip=False, supervised_weight=0.0)
paper_result = train(datasets["remove"], paper_run, paper, **quiet)
paper_errors = errors(paper_result.gan.g_ab, datasets["remove"])
course_errors = table.loc[("your run", "remove")].drop("left of the change")
compare = pd.DataFrame({f"paper's setting, {paper_result.step} steps": paper_errors,
                        "course's run": course_errors}).T
compare.round(3)

# %%
assert paper_result.step == steps
assert paper_errors["refaced, kept"] > 5 * course_errors["refaced, kept"]
grid = sorted((paper_run / "samples").glob("epoch_*.png"))[-1]
fig, ax = plt.subplots(figsize=(10, 5), layout="constrained")
ax.imshow(mpimg.imread(grid))
ax.set_title(f"paper's setting after {paper_result.step} steps: {grid.stem}")
ax.set_axis_off()
_ = plotting.save_figure(fig, figure_dir, "solution_paper_setting_samples")

# %% [markdown]
# ## Exercise 3: an absolute error instead of a squared one
#
# Watch the **supervised** loss, the distance from the refaced slice to its original, the
# curve that the course's run brings down. With the absolute error its gradient has the same
# size on every pixel, so the many pixels that must stay as they are weigh as much as the few
# that must change, and the curve hardly moves at first. Compare the first steps of both,
# each divided by its own starting value (an absolute and a squared error are in different
# units). The same run also serves exercise 4.
#
# ## Exercise 4: interrupt and resume
#
# A training interrupted with the stop button (Ctrl-C, a `KeyboardInterrupt`) saves a
# checkpoint and returns; the same call resumes it. Here the interruption comes from the
# step callback, halfway through, like a click on the stop button.

# %%
def stop_halfway(step, losses):
    if step == steps // 2:
        raise KeyboardInterrupt


mae_run = solutions / "05-mae"
shutil.rmtree(mae_run, ignore_errors=True)
mae = replace(tiny, supervised_loss="mae")
first = train(datasets["remove"], mae_run, mae, on_step=stop_halfway, **quiet)
print(f"interrupted: {first.interrupted}, at step {first.step}, "
      f"checkpoint {first.checkpoint.name}")
second = train(datasets["remove"], mae_run, mae, **quiet)
print(f"resumed and finished at step {second.step} of {second.total_steps}")

# %%
history = second.history()
print("steps in history.csv:", history["step"].min(), "to", history["step"].max(),
      f"({len(history)} rows)")
assert first.interrupted and first.step == steps // 2
assert second.step == steps and not second.interrupted
assert history["step"].tolist() == list(range(1, steps + 1))   # none missing, none repeated

# %%
course_history = pd.read_csv(course_run / "history.csv")
curves = {"squared error (course run)": course_history["supervised"][:steps].to_numpy(),
          "absolute error": history["supervised"].to_numpy()}
fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
for label, curve in curves.items():
    ax.plot(np.arange(1, len(curve) + 1), curve / curve[:3].mean(), label=label)
ax.set(xlabel="step", ylabel="supervised loss / its start", title="the first steps")
ax.legend()
_ = plotting.save_figure(fig, figure_dir, "solution_mae_mse_supervised")
for label, curve in curves.items():
    print(f"{label}: last {len(curve) // 4} steps at "
          f"{curve[-len(curve) // 4:].mean() / curve[:3].mean():.2f} "
          "of the start")
