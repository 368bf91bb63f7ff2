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
# # 05 · Training: teaching the CycleGAN to put faces back
#
# **What you will learn**
#
# * what happens in one training step of a CycleGAN: four networks, three optimizers, two
#   image pools, all in one compiled TensorFlow function;
# * how the learning rate decays, and why training is split into epochs;
# * how to watch a training: the loss curves and the sample grids saved after every epoch;
# * how checkpoints make a training safe to interrupt and resume exactly;
# * how to run the paper's full training on a GPU, and how long it takes.
#
# **Time**: about 20 minutes of reading. The quick profile trains the paper's architecture,
# made narrower (half the filters, 6 residual blocks instead of 9), on 64 x 64 slices for 3
# epochs: about 2-3 minutes on a 2-core CPU, plus 15-30 s while TensorFlow compiles the first
# step. Running the notebook again resumes the finished training instead of repeating it.
#
# **You need**: notebooks `03_slicing_and_datasets` (the datasets) and `04_cyclegan_model`
# (the networks and losses).

# %% tags=["parameters"]
data_source = "synthetic"  # "synthetic" or "ixi": whose slice dataset to train on
experiment = "all"  # the paper's split: "guys" or "all"
method = "remove"  # which anonymization is domain A: "blur" or "remove"
image_size = 64  # training image size (the paper: 256)
filters = 16  # generator width (the paper: 32)
residual_blocks = 6  # generator depth (the paper: 9)
disc_filters = 32  # discriminator width (the paper: 64)
batch_size = 1  # the paper: 1
epochs = 3  # the paper: 200
checkpoint_every = 1  # epochs between checkpoints
seed = 0  # seeds the weights, the data order and the image pools
restart = False  # True: delete this training's run folder and start again
figure_dir = ""  # where figures are saved as PNG (make reproduce sets it); empty: not saved

# %%
import shutil

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np

from refacing_lib import plotting
from refacing_lib.datasets import open_dataset
from refacing_lib.metrics import similarity, site_means
from refacing_lib.profiles import dataset_dir, run_dir
from refacing_lib.reface import reface_dataset
from refacing_lib.slices import shrink
from refacing_lib.training import TrainConfig, latest_checkpoint, learning_rate_at, train
from refacing_lib.widgets import LossMonitor

# %% [markdown]
# ## The data and the settings
#
# The training reads the dataset that notebook 03 built (domain A: the anonymized slices,
# domain B: the original ones) and shrinks the slices to `image_size` on the fly.

# %%
ds = open_dataset(dataset_dir(data_source, experiment, method))
if data_source == "synthetic":
    print("SYNTHETIC DATA: the slices come from the course's generated heads, not real subjects.")
config = TrainConfig(image_size=image_size, filters=filters, residual_blocks=residual_blocks,
                     disc_filters=disc_filters, batch_size=batch_size, epochs=epochs,
                     checkpoint_every=checkpoint_every, seed=seed)
steps_per_epoch = ds.info["counts"]["train"]["images"] // batch_size
total_steps = epochs * steps_per_epoch
print(f"dataset {ds.folder.name}: {ds.info['counts']['train']['images']} training pairs")
print(f"{epochs} epochs x {steps_per_epoch} steps = {total_steps} steps at {image_size} x {image_size}")
config

# %% [markdown]
# ## One training step
#
# Each step takes one batch of anonymized slices `a` and one of original slices `b`, **not
# paired**: they come from different subjects and positions (notebook 03). Then, in one
# compiled function (`tf.function`):
#
# 1. the generators translate both ways: `fake_b = G_AB(a)` (refaced), `fake_a = G_BA(b)`
#    (anonymized), and back: `G_BA(fake_b)` should be `a`, `G_AB(fake_a)` should be `b`;
# 2. the generator loss adds the LSGAN terms (each generator wants its fakes scored 1 by the
#    other domain's discriminator) and 10 times the two cycle errors;
# 3. each fake goes through an **image pool** of the last 50 fakes: half of the time the
#    discriminator sees an older fake instead of the newest, which keeps it from chasing the
#    generator's latest trick;
# 4. each discriminator's loss compares its scores of real images with 1 and of pooled fakes
#    with 0;
# 5. three Adam optimizers (both generators together, each discriminator alone) apply the
#    gradients.
#
# All of this is `CycleGAN.train_step` in `refacing_lib/training.py`, which `train` calls once
# per batch. The loop around it writes the losses to `history.csv` and TensorBoard, saves a
# grid of test slices and their refacing after every epoch, and a checkpoint every
# `checkpoint_every` epochs.
#
# ## The learning rate
#
# Adam starts at 2e-4 for all three optimizers. As in the paper, the rate stays there for the
# first half of the training and then falls linearly to 0 at the last step, so that the
# networks settle instead of wandering.

# %%
steps = np.arange(total_steps)
fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
ax.plot(steps, [learning_rate_at(s, total_steps, config.learning_rate) for s in steps])
ax.set(xlabel="step", ylabel="learning rate", title="linear decay over the second half")
plotting.save_figure(fig, figure_dir, "learning_rate");

# %% [markdown]
# ## Train
#
# The cell below trains, with a progress bar and a loss plot that redraws every 50 steps.
# You can **interrupt** it at any moment (the stop button, or Ctrl-C in a terminal): it saves a
# checkpoint first, and running the cell again resumes from it, with the same weights,
# optimizer state, image pools, data order and learning rate as if it had never stopped. A
# finished training is not repeated: the cell then only loads it. A checkpoint only fits the
# settings it was trained with: after changing one of the parameters at the top, set
# `restart = True` (the old run is deleted) or the cell stops with an error that names the
# setting.
#
# From a terminal, the same training is
# `.venv/bin/refacing train --profile quick --experiment all --method remove`.

# %%
run = run_dir(data_source, experiment, method)
if restart and run.exists():
    shutil.rmtree(run)
monitor = LossMonitor(every=50)
result = train(ds, run, config, on_step=monitor)
monitor.draw()
print(f"step {result.step} of {result.total_steps}, {result.seconds:.0f} s in this run; "
      f"checkpoint {result.checkpoint.name}")

# %% [markdown]
# ## Did it learn?
#
# The losses of a GAN do not fall steadily the way a classifier's do: generators and
# discriminators compete, so their adversarial losses go up and down. The **cycle loss** is
# the one to watch: it measures how well the two generators undo each other, and it should
# fall. Here are the curves from `history.csv`, and the mean cycle loss of the first and the
# last tenth of the steps.

# %%
history = result.history()
fig = plotting.plot_losses(history)
plotting.save_figure(fig, figure_dir, "losses")
tenth = max(1, len(history) // 10)
first, last = history["cycle"][:tenth].mean(), history["cycle"][-tenth:].mean()
print(f"cycle loss: first tenth of the steps {first:.3f}, last tenth {last:.3f}")
assert last < first, "the cycle loss did not fall: the training did not learn"

# %% [markdown]
# The sample grids show the same test slices after every epoch: top row the anonymized input,
# middle row what `G_AB` makes of it, bottom row the original. Compare the first and the last
# epoch.

# %%
grids = sorted((run / "samples").glob("epoch_*.png"))
fig, axes = plt.subplots(1, 2, figsize=(14, 6), layout="constrained")
for ax, path in zip(axes, (grids[0], grids[-1])):
    ax.imshow(mpimg.imread(path))
    ax.set_title(path.stem.replace("_", " "))
    ax.set_axis_off()
plotting.save_figure(fig, figure_dir, "samples_first_last_epoch");

# %% [markdown]
# The refaced row moves towards the bottom row: where the anonymization left black, the
# generator paints tissue with the brightness and rough shape of a face. With 64 x 64 pixels,
# narrow networks and a few minutes of training it is noisy; the paper trained 256 x 256
# images for 200 epochs. Numbers tell the two sides apart: over all test slices, the mean
# absolute difference to the original where the anonymization changed the image (what the
# attack wants back), and where it did not (what the generator should leave alone).

# %%
refaced = reface_dataset(result.gan.g_ab, ds, "test")
original = shrink(ds.images("test", "B"), image_size)
anonymized = shrink(ds.images("test", "A"), image_size)
hidden = np.abs(anonymized - original) > 0.05       # pixels the anonymization changed
for name, pixels in (("changed by the anonymization", hidden), ("left alone", ~hidden)):
    before = np.abs(anonymized - original)[pixels].mean()
    after = np.abs(refaced - original)[pixels].mean()
    print(f"{name} ({pixels.mean():.1%} of pixels): mean |anonymized - original| = {before:.3f}, "
          f"|refaced - original| = {after:.3f}")

# %% [markdown]
# The paper's own measures are the Pearson correlation and the SSIM between the original and
# the anonymized or refaced slice, on the front (face) half of each image, averaged per site
# (`refacing_lib.metrics`). Higher is closer to the original:

# %%
test = ds.metadata[ds.metadata["split"] == "test"].reset_index(drop=True)
for name, images in (("anonymized", anonymized), ("refaced", refaced)):
    test = test.join(similarity(original, images).add_prefix(f"{name} "))
site_means(test[["site", "anonymized correlation", "refaced correlation", "anonymized ssim",
                 "refaced ssim"]]).round(3)

# %% [markdown]
# The same numbers image by image, drawn like the paper's Figs. 4 and 5: one dot per test
# slice, a segment at each site's mean, sites separated by vertical lines.

# %%
fig, axes = plt.subplots(2, 1, figsize=(10, 6), layout="constrained", sharex=True)
for ax, measure in zip(axes, ("correlation", "ssim")):
    plotting.plot_site_scores(test, {f"anonymized {measure}": "anonymized",
                                     f"refaced {measure}": "refaced"}, ax, ylabel=measure)
axes[0].set_xlabel("")
plotting.save_figure(fig, figure_dir, "correlation_ssim_per_site");

# %% [markdown]
# For face removal the paper found that "mean correlation is the one metric that sees a
# significant improvement from refacing", and that the measures track what the eye sees
# poorly. After a few minutes of training the correlation may already rise while the SSIM
# falls: the noise the generator adds to the untouched pixels costs more structure than the
# painted face gains. Notebook 06 measures this properly, as the paper did, and asks the
# question that matters: can a refaced face be matched to its owner?
#
# ## Checkpoints and resuming
#
# A checkpoint (`checkpoints/step_NNNNNNN.npz`) holds every weight of the four networks, the
# moments of the three optimizers, both image pools, the step and the epoch; the data order
# and the pools' random draws are computed from the seed and the step. So training N steps at
# once, or N/2, stopping, and N/2 more, gives the same weights (the course's tests check
# this). The last three checkpoints are kept.

# %%
print("checkpoints:", [p.name for p in sorted((run / "checkpoints").glob("*.npz"))])
again = train(ds, run, config, progress=False)   # already finished: resumes, nothing to do
print(f"resumed at step {again.step}: {again.step == result.step}")
print("latest:", latest_checkpoint(run).name)

# %% [markdown]
# If a loss ever becomes NaN or infinite (a learning rate too high, a broken image), training
# stops with an error that names the loss, the step and the last good checkpoint, and saves
# nothing after it.
#
# ## The paper's training on a GPU
#
# The full profile is the paper's setting: 256 x 256 slices, batch 1, 200 epochs, the
# learning rate decaying over the last 100. For the Guy's experiment that is 6300 x 200 =
# 1.26 million steps, for all sites 10500 x 200 = 2.1 million. The paper reports about 2 days
# and close to 4 days on one Nvidia Titan X Pascal. On a 2-core CPU one step at 256 x 256
# took 9.3 s (`benchmarks/bench_training.py`), which would be about four months: the full
# profile is for a GPU machine.
#
# ```bash
# .venv/bin/refacing fetch-ixi                                # once: the real IXI T1 data
# .venv/bin/refacing deface --method blur data/ixi --out data/anonymized/blur/ixi --jobs 8
# .venv/bin/refacing slices --source ixi --experiment guys --method blur
# .venv/bin/refacing train --profile full --source ixi --experiment guys --method blur
# ```
#
# The last command can be stopped and started again at will; it goes on from the latest
# checkpoint (saved every 5 epochs, and on Ctrl-C). `benchmarks/bench_training.py` prints the
# milliseconds per step of your machine at 64, 128 and 256 pixels; multiply by the number of
# steps to plan the run. TensorBoard shows the losses while it runs:
# `tensorboard --logdir data/runs`.
#
# ## Summary
#
# * One compiled step updates both generators and both discriminators with LSGAN and cycle
#   losses, through 50-image pools; Adam at 2e-4 decays linearly over the second half.
# * The cycle loss is the curve to watch; the sample grids show what the generator does to
#   the same test slices after every epoch.
# * Checkpoints hold everything needed to resume exactly; interrupting is safe.
# * The quick profile shows the mechanism in minutes; the paper's results need the full
#   profile on a GPU (days).
#
# ## Exercises
#
# 1. Train with `method = "blur"` (build its dataset in notebook 03 first). Which of the two
#    anonymizations does the generator undo faster, judging from the sample grids?
# 2. Add an identity loss: `TrainConfig(..., identity_weight=5.0)` in a new run folder (set
#    `restart = True` or change `experiment`). What does it do to the cycle loss?
# 3. The data is paired, so a supervised term is possible (the paper's suggestion, Pix2Pix):
#    `supervised_weight=10.0`. Compare the mean absolute differences printed above.
# 4. Interrupt the training cell after a few seconds, then run it again. Check in
#    `history.csv` that no step is missing or repeated.
#
# Next: `06_evaluation`, the paper's measures and a re-identification attack.
