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
# **Time**: about 25 minutes of reading. The quick profile trains the paper's architecture,
# made narrower (half the filters, 6 residual blocks instead of 9), on 64 x 64 slices for 3
# epochs, with two options that the paper did not use (explained below): about 1.5 minutes
# on a 2-core CPU, plus 15-30 s while TensorFlow compiles the first step. Running the
# notebook again resumes the finished training instead of repeating it. Then it compares
# your run with the course's pretrained model, trained longer.
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
input_skip = True  # generators add a change to their input (a course option; the paper: False)
supervised_weight = 1000.0  # weight of the distance to the paired original (the paper: 0)
supervised_loss = "mse"  # that distance: "mse" (a course option) or "mae" (Pix2Pix's L1)
checkpoint_every = 1  # epochs between checkpoints
seed = 0  # seeds the weights, the data order and the image pools
restart = False  # True: delete this training's run folder and start again
# run_name: empty for the course's run, data/runs/{source}-{experiment}-{method};
# a name for data/runs/NAME
run_name = ""
figure_dir = ""  # where figures are saved as PNG (make reproduce sets it); empty: not saved

# %%
import inspect
import shutil

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Code

from refacing_lib.data.layout import Layout
from refacing_lib.evaluate.evaluation import CHANGE_TOLERANCE
from refacing_lib.evaluate.metrics import similarity, site_means
from refacing_lib.evaluate.pretrained import score_pretrained
from refacing_lib.model.cyclegan import CycleGAN
from refacing_lib.model.reface import reface_dataset
from refacing_lib.model.schedule import LinearDecay
from refacing_lib.model.training import TrainConfig, latest_checkpoint, train
from refacing_lib.slicing.datasets import open_dataset
from refacing_lib.slicing.slices import shrink
from refacing_lib.viz import plotting
from refacing_lib.viz.widgets import LossMonitor

layout = Layout(data_source)  # where this data source's files lie under data/

# %% [markdown]
# ## The data and the settings
#
# The training reads the dataset that notebook 03 built (domain A: the anonymized slices,
# domain B: the original ones) and shrinks the slices to `image_size` on the fly.

# %%
ds = open_dataset(layout.dataset(experiment, method))
if data_source.startswith("synthetic"):
    print("SYNTHETIC DATA: the slices come from the course's generated heads, not real subjects.")
config = TrainConfig(image_size=image_size, filters=filters, residual_blocks=residual_blocks,
                     disc_filters=disc_filters, batch_size=batch_size, epochs=epochs,
                     input_skip=input_skip, supervised_weight=supervised_weight,
                     supervised_loss=supervised_loss, checkpoint_every=checkpoint_every, seed=seed)
steps_per_epoch = ds.info["counts"]["train"]["images"] // batch_size
total_steps = epochs * steps_per_epoch
print(f"dataset {ds.folder.name}: {ds.info['counts']['train']['images']} training pairs")
print(f"{epochs} epochs x {steps_per_epoch} steps = {total_steps} steps "
      f"at {image_size} x {image_size}")
config

# %% [markdown]
# ## Two departures from the paper, and why
#
# The paper trained for 200 epochs on a GPU: 1.26 million steps. A laptop has minutes, and
# in 567 steps the paper's own setting learns nothing useful: its generators have not even
# learned to copy a head, so the refaced slices come out as speckled noise, further from the
# originals than the anonymized ones. The quick profile therefore switches on two options of
# `TrainConfig` that the paper did not use, which make its model a **paired CycleGAN with a
# squared error** (close to Pix2Pix, the paper's future work) rather than the paper's unpaired
# CycleGAN (notebook 04, "Two families"):
#
# * `input_skip=True`: each generator predicts a **change that is added to its input**, and
#   starts at "no change". The head is right from the first step; training only has to learn
#   the face.
# * `supervised_weight=1000, supervised_loss="mse"`: the datasets are **paired** (row i of A
#   and of B is the same slice, notebook 03), so the generator is also told how far its
#   output is from the true original, by the mean squared error. An attacker can always make
#   such pairs: anonymize faces of their own with the same tool. (The paper's CycleGAN does
#   not use the pairs; Pix2Pix does, with an absolute error, which is much slower here: its
#   gradient is as large on the many pixels that must stay as on the few that must change.)
#
# Measured on this dataset with `python benchmarks/compare_quick_variants.py` (567 steps
# each, test slices at 64 x 64; mean absolute difference from the original, [-1, 1] units,
# over the pixels the anonymization changed and over those it kept, and the correlation over
# the changed pixels):
#
# | variant | blur: changed | corr. | kept | remove: changed | corr. | kept |
# |---|---|---|---|---|---|---|
# | anonymized (doing nothing) | 0.261 | 0.865 | 0 | 0.557 | 0.108 | 0 |
# | the paper's setting | 0.333 | 0.686 | 0.198 | 0.319 | 0.388 | 0.211 |
# | + absolute error 10, identity 5 | 0.286 | 0.776 | 0.161 | 0.288 | 0.485 | 0.172 |
# | skip only (unpaired) | 0.261 | 0.865 | 0.004 | 0.317 | 0.382 | 0.022 |
# | skip + absolute error 10 | 0.261 | 0.865 | 0.000 | not run | | |
# | skip + absolute error 100 | 0.261 | 0.865 | 0.000 | not run | | |
# | skip + squared error 100 | 0.214 | 0.883 | 0.006 | 0.231 | 0.641 | 0.016 |
# | **skip + squared error 1000 (quick)** | 0.158 | 0.933 | 0.009 | 0.220 | 0.659 | 0.023 |
#
# The full profile (`refacing_lib/course/profiles/full.yaml`) keeps the paper's exact setting, for
# instructors who reproduce the paper on a GPU. Set `input_skip = False` and
# `supervised_weight = 0` above to train the paper's setting here (exercise 2).

# %% [markdown]
# ## One training step
#
# Each step takes a batch of anonymized slices `a` and a batch of original slices `b`. With
# `supervised_weight` above 0, as here, they are **paired**: row i of `b` is the original of
# row i of `a`. With `supervised_weight = 0`, the paper's CycleGAN, they are drawn
# independently, from different subjects and positions (notebook 03). This is the whole step,
# as the library runs it on TensorFlow (traced once into a compiled graph, `tf.function`):

# %%
Code(inspect.getsource(CycleGAN.tensorflow_step), language="python")

# %% [markdown]
# Read it from the top:
#
# 1. the generators translate both ways, `fake_b = G_AB(a)` (refaced) and `fake_a = G_BA(b)`
#    (anonymized), and back: `G_BA(fake_b)` should give `a` again, `G_AB(fake_a)` should give
#    `b` (the two **cycle** errors, mean absolute differences);
# 2. each generator wants its fakes scored 1 by the other domain's discriminator (the **LSGAN**
#    terms `g_ab` and `g_ba`); the **identity** term (off in the paper) asks a generator to
#    leave an image of its own target domain as it is, and the **supervised** term (a course
#    option, on here) is the distance of each fake to its paired original;
# 3. `g_total`, the generators' objective, adds the terms with their weights:
#    `g_ab + g_ba + cycle_weight * cycle + identity_weight * identity
#    + supervised_weight * supervised`;
# 4. each fake goes through an **image pool** of past fakes (the last 50 in the paper): half
#    of the time the discriminator sees an older fake instead of the newest, which keeps it
#    from chasing the generator's latest trick;
# 5. each discriminator's loss compares its scores of real images with 1 and of pooled fakes
#    with 0;
# 6. three Adam optimizers (both generators together, each discriminator alone) apply the
#    gradients the tape recorded.
#
# `train` calls this step once per batch. The loop around it writes the losses to
# `history.csv` and TensorBoard, saves a grid of test slices and their refacing after every
# epoch, and a checkpoint every `checkpoint_every` epochs. The same step runs on JAX, on
# several devices or in bfloat16 through `refacing_lib.model.backends`.
#
# ## The learning rate
#
# Adam starts at 2e-4 for all three optimizers. As in the paper, the rate stays there for the
# first half of the training and then falls linearly to 0 at the last step, so that the
# networks settle instead of wandering. `LinearDecay` is that schedule, a Keras
# `LearningRateSchedule`: each optimizer evaluates it at its own step counter, which every
# checkpoint holds, so a resumed training goes on with the right rate.

# %%
steps = np.arange(total_steps)
fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
schedule = LinearDecay(config.learning_rate, total_steps, config.decay_from)
ax.plot(steps, np.asarray(schedule(steps)))
ax.set(xlabel="step", ylabel="learning rate", title="linear decay over the second half")
plotting.save_figure(fig, figure_dir, "learning_rate");

# %% [markdown]
# ## Train
#
# The cell below trains, with a progress bar and a loss plot that redraws every 50 steps.
# You can **interrupt** it at any moment (the stop button, or Ctrl-C in a terminal): it
# finishes the step under way and saves a checkpoint, and running the cell again resumes from
# it, with the same weights, optimizer state, image pools, data order and learning rate as if
# it had never stopped. A
# finished training is not repeated: the cell then only loads it. A checkpoint only fits the
# settings it was trained with: after changing one of the parameters at the top, give the
# training a folder of its own with `run_name` (the course's run, which notebook 06
# evaluates, stays as it is), or set `restart = True` (the old run is deleted); otherwise the
# cell stops with an error that names the setting.
#
# From a terminal, the same training is
# `.venv/bin/refacing train --profile quick --experiment all --method remove`.

# %%
run = layout.root / "runs" / run_name if run_name else layout.run(experiment, method)
print(f"run folder: {run}")
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
# discriminators compete, so their adversarial losses go up and down. In the paper's setting
# the **cycle loss** is the one to watch: it measures how well the two generators undo each
# other, and it should fall. With `input_skip` the generators start as the identity, which
# undoes itself perfectly: the cycle loss starts at 0 and rises a little as they learn to
# change images. Then the **supervised loss** is the one to watch: the distance from the
# refaced slice to its own original, which should fall. Here are the curves from
# `history.csv`, and the mean of that loss over the first and the last tenth of the steps.

# %%
history = result.history()
fig = plotting.plot_losses(history)
plotting.save_figure(fig, figure_dir, "losses")
tenth = max(1, len(history) // 10)
watch = "supervised" if supervised_weight else "cycle"
first, last = history[watch][:tenth].mean(), history[watch][-tenth:].mean()
print(f"{watch} loss: first tenth of the steps {first:.4f}, last tenth {last:.4f}")
if last >= first:
    print(f"WARNING: the {watch} loss did not fall: this training did not learn")

# %% [markdown]
# Which term drives the generators? `g_total` is the sum of each term times its weight
# (notebook 04, "Two families"); drawn one by one (log scale), the curves show how much each
# contributes, and the table below gives their means over the first and the last tenth of
# the steps. In the quick run 1000 times the squared error to the paired original is the
# largest term by far, many times the two LSGAN terms and 10 times the cycle error: the model
# that works here learns from the pairs. In the paper's setting (exercise 2) the supervised
# term is gone and the cycle and the discriminators are all the generators learn from.

# %%
fig = plotting.plot_weighted_terms(history, result.gan.config)
plotting.save_figure(fig, figure_dir, "weighted_terms")
terms = plotting.weighted_terms(history, result.gan.config)
for label, values in terms.items():
    print(f"{label:>18}: first tenth {values[:tenth].mean():8.3f}, "
          f"last tenth {values[-tenth:].mean():8.3f}")

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
# From the first epoch the refaced row keeps the head as it was (the generators start as
# the identity), and where the anonymization left black the generator paints tissue in the
# shape of a face: smoother than the original, since 64 x 64 pixels, narrow networks and a
# squared error reward the average of the faces that fit, where the paper trained 256 x 256
# images for 200 epochs. Numbers tell the two sides apart: over all test slices, the mean
# absolute difference to the original where the anonymization changed the image (what the
# attack wants back), and where it did not (what the generator should leave alone).

# %%
refaced = reface_dataset(result.gan.g_ab, ds, "test")
original = shrink(ds.images("test", "B"), image_size)
anonymized = shrink(ds.images("test", "A"), image_size)
hidden = np.abs(anonymized - original) > CHANGE_TOLERANCE   # pixels the anonymization changed
for name, pixels in (("changed by the anonymization", hidden), ("left alone", ~hidden)):
    before = np.abs(anonymized - original)[pixels].mean()
    after = np.abs(refaced - original)[pixels].mean()
    print(f"{name} ({pixels.mean():.1%} of pixels): mean |anonymized - original| = {before:.3f}, "
          f"|refaced - original| = {after:.3f}")

# %% [markdown]
# ## Your run and the pretrained model, side by side
#
# A few minutes at 64 x 64 pixels show the mechanism. As in the keras.io CycleGAN example,
# the course also ships generators trained longer: about 25 minutes each on a 2-core CPU, the
# paper's network width on 128 x 128 slices, with the same two course options, on a
# synthetic cohort of its own (the `course` profile; notebook 06 measures them on their own
# test subjects). The subjects below were never part of their training: that cohort has
# another seed. The middle slice of each test subject, anonymized, refaced by your run and by
# the pretrained model, and the original:

# %%
large, pretrained_scores = score_pretrained(ds, method)
size = large["refaced"].shape[-1]
middle = np.arange(10, len(refaced), 21)          # slice 11 of 21: the mid-sagittal one
panel = {"anonymized": anonymized[middle], f"your run ({image_size} px)": refaced[middle],
         f"pretrained ({size} px)": large["refaced"][middle], "original": original[middle]}
fig = plotting.plot_triplets({f"{method}, quick test subjects": panel}, size=2.2,
                             versions=list(panel))
plotting.save_figure(fig, figure_dir, "your_run_and_pretrained")
pretrained_scores[["anonymized mae_changed", "refaced mae_changed",
                   "refaced mae_unchanged"]].mean().round(3)

# %% [markdown]
# The paper's own measures are the Pearson correlation and the SSIM between the original and
# the anonymized or refaced slice, on the front (face) half of each image, averaged per site
# (`refacing_lib.evaluate.metrics`). Higher is closer to the original:

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
# poorly. Here both rise over the anonymized slices, because the generator leaves the
# untouched pixels alone; in the paper's setting (exercise 2) a short training adds noise
# everywhere, and then the SSIM falls below the anonymized slice's. Notebook 06 measures this
# properly, as the paper did, and asks the question that matters: can a refaced face be
# matched to its owner?
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
# checkpoint (saved every 5 epochs, and on Ctrl-C or a scheduler's SIGTERM). On a GPU machine
# with JAX and no TensorFlow, the same command runs on Keras's JAX backend
# (`KERAS_BACKEND=jax`, the environment of `requirements-jax.txt`), optionally with
# `--precision bfloat16` and a larger `--batch-size`; the README explains the options.
# `benchmarks/bench_training.py` prints the milliseconds per step of your machine at 64, 128
# and 256 pixels and the hours the paper's trainings would take on it. TensorBoard shows the
# losses while it runs: `tensorboard --logdir data/runs`.
#
# ## Summary
#
# * One compiled step updates both generators and both discriminators with LSGAN and cycle
#   losses, through 50-image pools; Adam at 2e-4 decays linearly over the second half.
# * The supervised loss (the cycle loss in the paper's setting) is the curve to watch; the
#   sample grids show what the generator does to the same test slices after every epoch.
# * Checkpoints hold everything needed to resume exactly; interrupting is safe.
# * The quick profile shows the mechanism in minutes; the paper's results need the full
#   profile on a GPU (days).
#
# ## Exercises
#
# 1. Train with `method = "blur"` (notebook 03 built its dataset). Which of the two
#    anonymizations does the generator undo better, judging from the side-by-side figure and
#    the mean absolute differences?
# 2. Train the paper's setting in a run folder of its own: `input_skip = False`,
#    `supervised_weight = 0` and `run_name = "paper-setting"` (the course's run, which
#    notebook 06 evaluates, is left alone). Compare the last sample grid with the table of
#    "Two departures from the paper". Set the three back (`run_name = ""`) to return to the
#    course's run: it is loaded, not trained again.
# 3. Keep `input_skip` but set `supervised_loss = "mae"` and `run_name = "mae"`. Which loss
#    curve tells you, after a minute, that this run learns less?
# 4. Give a training a folder of its own (`run_name = "interrupted"`: the course's run is
#    finished, so its cell only loads it), interrupt the training cell after a few seconds,
#    then run it again. Check in `history.csv` that no step is missing or repeated.
#
# Worked solutions: `solutions/05_training_solutions.py` (try first; its trainings are tiny and
# go to run folders of their own).
#
# ## Further reading
#
# * J.-Y. Zhu et al., "Unpaired image-to-image translation using cycle-consistent adversarial
#   networks", ICCV 2017, section 4 and appendix 7.1: the training recipe (Adam 2e-4, beta_1
#   0.5, linear decay, the pool of 50 fakes).
# * A. Shrivastava et al., "Learning from simulated and unsupervised images through
#   adversarial training", CVPR 2017: the history pool of generated images.
# * D. P. Kingma and J. Ba, "Adam: a method for stochastic optimization", ICLR 2015.
# * P. Isola et al., "Image-to-image translation with conditional adversarial networks"
#   (Pix2Pix), CVPR 2017: the paired L1 term that `supervised_weight` adds.
# * The keras.io example "CycleGAN" (A. K. Nain): a short training plus pretrained weights, the
#   pattern notebook 05 follows.
#
# Next: `06_evaluation`, the paper's measures and a re-identification attack.
