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
# # 06 · Evaluation: did the faces come back, and whose faces are they?
#
# **What you will learn**
#
# * the paper's two measures, Pearson correlation and SSIM on the front half of each slice,
#   what they reward and what they miss;
# * how to read the paper's figures, reproduced here: refaced examples (Figs. 1 and 2), all 21
#   slices of one subject (Fig. 3), and the scores per image and per site (Figs. 4 and 5);
# * a re-identification attack that the paper did not run: can a refaced face be matched to
#   the right person among many? And how many probes a rate needs to mean something;
# * what the course's pretrained model, trained longer, does on subjects it never saw;
# * what slice-by-slice (2-D) refacing does to a whole head, seen as a 3-D skin surface;
# * the attack of the re-identification studies: face recognition on renders of whole heads;
# * what all this means for sharing anonymized MRI.
#
# **Time**: about 30 minutes of reading. Running it takes about 2 minutes for the measures of
# the quick profile's run (the removal run of notebook 05; most of it is the render attack,
# about 3 seconds for each of its 21 heads), and 1-2 more for each run it
# evaluates that is not there yet (it is trained first: add `"all-blur"` after notebook 05's
# exercise 1, or train it here). Measuring the pretrained model again
# (`measure_pretrained = True`) adds 2-6 minutes the first time.
#
# **You need**: notebooks `03_slicing_and_datasets` (the datasets) and `05_training`.

# %% tags=["parameters"]
data_source = "synthetic"  # "synthetic" or "ixi"
experiments = ["all-remove"]  # EXPERIMENT-METHOD runs to evaluate (trained if missing)
synthetic_subjects = 12  # size of the synthetic cohort (its second scans are the gallery)
seed = 0  # the cohort's and the training's seed
faces = "human"  # the synthetic faces: "human" or "block" (the course profile's)
exclude_subjects = []  # heads of the synthetic cohort left out (a profile's exclude_subjects)
jobs = 2  # processes for generating and anonymizing heads
image_size = 64  # training settings for a run that is missing (as notebook 05)
filters = 16
residual_blocks = 6
disc_filters = 32
batch_size = 1
epochs = 3
input_skip = True
supervised_weight = 1000.0
supervised_loss = "mse"
checkpoint_every = 1
figure_dir = ""  # where figures are saved as PNG (make reproduce sets it); empty: not saved
results_dir = "../build/results"  # the results table and the paper's figures go here
measure_pretrained = False  # True: measure the pretrained model here, not show its shipped results

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Image, display

from refacing_lib.course.pipeline import prepare_data
from refacing_lib.course.profiles import experiments as experiment_list
from refacing_lib.data.layout import Layout
from refacing_lib.evaluate.evaluation import evaluate_run
from refacing_lib.evaluate.pretrained import evaluate_pretrained, score_pretrained, shipped_results
from refacing_lib.evaluate.reidentify import face_profile, identification_rates
from refacing_lib.evaluate.results import write_results
from refacing_lib.model.training import TrainConfig, run_config, train
from refacing_lib.slicing.datasets import open_dataset
from refacing_lib.viz import plotting, surfaces
from refacing_lib.viz.widgets import HeadViewer

layout = Layout(data_source)  # where this data source's files lie under data/

# %% [markdown]
# ## The trained generators
#
# Each experiment is a training: `all-remove`, the quick profile's one (notebook 05's run),
# learned to reface face-removed slices of all three sites; `all-blur`, which you can add to
# `experiments` (notebook 05's exercise 1 trains it), learns face-blurred ones. A run that
# exists is evaluated with the settings it was trained with (its `config.json`), so a longer
# training from notebook 05 is finished and used as it is; only a missing run is trained now,
# with the settings above (the same as notebook 05's).

# %%
if data_source.startswith("synthetic"):
    print("SYNTHETIC DATA: the heads are the course's generated cohort, not real subjects.")
prepare_data({"data_source": data_source, "synthetic_subjects": synthetic_subjects, "seed": seed,
              "exclude_subjects": exclude_subjects, "jobs": jobs, "faces": faces},
             layout, rescans=True)                # the synthetic cohort's second scans: see below
runs = experiment_list({"experiments": experiments})
for experiment, method in runs:
    run = layout.run(experiment, method)
    config = run_config(run) or TrainConfig(
        image_size=image_size, filters=filters, residual_blocks=residual_blocks,
        disc_filters=disc_filters, batch_size=batch_size, epochs=epochs,
        input_skip=input_skip, supervised_weight=supervised_weight,
        supervised_loss=supervised_loss, checkpoint_every=checkpoint_every, seed=seed)
    ds = open_dataset(layout.dataset(experiment, method))
    result = train(ds, run, config, log=lambda line: None)
    print(f"{experiment}-{method}: step {result.step} of {result.total_steps}, "
          f"{config.image_size} px, input_skip={config.input_skip}, "
          f"supervised_weight={config.supervised_weight}")

# %% [markdown]
# ## The paper's measures
#
# The paper compares each refaced test slice with its original using two numbers, both on the
# **front half** of the image (the face side), where anonymization acts:
#
# * **Pearson correlation**: do the pixel values rise and fall together? 1 is a perfect linear
#   match; it ignores an overall change of brightness or contrast.
# * **SSIM** (structural similarity): compares local means, contrasts and structure in 7 x 7
#   windows and averages them; 1 is identical. It punishes noise and blur everywhere.
#
# Both are computed for the anonymized slice too: refacing helps only where it beats that.
# `evaluate_run` refaces the test slices with the latest checkpoint, measures them, runs the
# re-identification attack described below, and refaces one whole test head.
# `write_results` then saves it all in one folder: the per-image scores, the per-site means,
# the metrics table as CSV and Markdown, and the paper's figures, which this notebook shows
# from there. `make reproduce` writes it to `build/results/`; the instructors'
# `make reproduce-full` (the paper's four experiments on IXI with the full profile) runs the
# same code through `refacing reproduce`.

# %%
evaluations = [evaluate_run(layout, experiment, method) for experiment, method in runs]
results = write_results(evaluations, results_dir).parent
print("results in", results.resolve())


def show(pattern):
    """Display the results folder's figures whose names match ``pattern``."""
    for path in sorted(results.glob(pattern)):
        display(Image(filename=str(path)))


# %%
means = pd.concat({ev.name: ev.scores[["anonymized correlation", "refaced correlation",
                                       "anonymized ssim", "refaced ssim"]].mean()
                   for ev in evaluations}, axis=1)
means.round(3)

# %% [markdown]
# Image by image, as in the paper's Figs. 4 and 5: a dot per test slice, a segment at each
# site's mean, sites separated by vertical lines. The paper's Fig. 4 is the Guy's experiment,
# Fig. 5 all sites.

# %%
show("fig[45]_*.png")

# %% [markdown]
# Most pixels of the front half were never anonymized (the back of the nose, the tongue, the
# spine), and they dominate both numbers. Restricting the measures to the pixels that the
# anonymization changed asks the sharper question: is the refaced face closer to the real one
# than the anonymized face was? The mean absolute error over those pixels (`mae_changed`,
# lower is closer) answers it in the images' own units, and the same over all other pixels
# (`mae_unchanged`) checks that the generator left the rest of the head alone.

# %%
columns = [f"{version} {measure}" for measure in ("correlation_changed", "ssim_changed",
                                                  "mae_changed", "mae_unchanged")
           for version in ("anonymized", "refaced")]
changed = pd.concat({ev.name: ev.scores[columns].mean() for ev in evaluations}, axis=1)
changed.round(3)

# %% [markdown]
# ## What refaced slices look like
#
# The paper's Fig. 2 (removal; its Fig. 1 shows blurring, written for a blurring run: the
# pretrained model's below, or yours from notebook 05's exercise 1): the original on top, the
# anonymized slice in the middle, the refaced one below, for the middle slice of several test
# subjects.

# %%
show("fig[12]_*.png")

# %% [markdown]
# And the paper's Fig. 3: all 21 slices of one test subject (of a blurring run where there is
# one, as in the paper), from 18 mm left of the mid-sagittal plane to 18 mm right of it.

# %%
show("fig3_*.png")

# %% [markdown]
# With the quick profile (64 x 64 pixels, narrow networks, 3 epochs, and the two course options
# of notebook 05) the attack already works on these synthetic heads: the head is left as it was
# and a removed face is replaced by a smooth, blurred outline of a face in the right place,
# without its details (a blurring run sharpens a blurred face: notebook 05's exercise 1). Over
# the changed pixels the refaced slices are closer to the originals than the anonymized ones,
# by correlation and by mean absolute error (the tables above). The faces are still blurrier
# than the originals: a minute of training at 64 x 64 pixels; the pretrained model below shows
# what more pixels and more steps add, for blurring and removal. The paper also saw that the
# measures "do not track the subjective variation in reconstruction quality", and only the mean
# correlation improved significantly for face removal. A number can rise while the face gets no
# more recognisable, and the other way round.
#
# ## A re-identification attack
#
# Privacy is not about pixel similarity but about identity: given a refaced head, can an
# attacker tell **who** it is? The paper did not test this. Here is a simple attack.
#
# The **facial profile** of a sagittal slice is the distance from the front of the image to
# the skin, row by row: the silhouette of forehead, nose, lips and chin. Slices at 21
# positions give 21 such curves per person.

# %%
ev = evaluations[0]
first = ev.scores["name"] == ev.scores["name"].iloc[0]
middle = np.nonzero(np.asarray(first & (ev.scores["position"] == 10)))[0][0]
size = ev.images["original"].shape[-1]           # the run's image size
rows_mm = np.arange(size) * 240 / size
fig, ax = plt.subplots(figsize=(4.5, 5), layout="constrained")
for version in ("original", "anonymized", "refaced"):
    ax.plot(face_profile(ev.images[version][middle]), rows_mm, label=version)
ax.invert_yaxis()
ax.set(xlabel="mm behind the front of the image", ylabel="mm from the top",
       title=f"facial profile, {ev.scores['subject'][middle]}, mid-sagittal")
ax.legend()
plotting.save_figure(fig, figure_dir, "facial_profiles");

# %% [markdown]
# For every test subject (the probe), the attack compares its profiles with those of every
# subject in a **gallery** of known faces, over the rows the anonymization changed. It allows
# the head to sit a few millimetres higher or lower, further forward or back, or to nod by a
# few degrees, and ranks the gallery by the mean remaining difference. On the synthetic cohort the
# gallery holds a **second scan** of each subject (new noise and a slightly different head
# position), so a correct match is never a copy of the probe. The gallery includes the training
# subjects too, which makes the attack harder.
#
# The **top-1 rate** is how often the closest face is the right person; **top-5**, how often
# the right person is among the five closest. Ties count as a fair lottery, so a probe that is
# equally far from everyone scores the rate of guessing. A tiny example where the answer is
# known: two probes, three gallery faces.

# %%
distances = np.array([[0.5, 2.0, 3.0],     # probe 0 is closest to face 0: its owner
                      [1.0, 1.0, 0.2]])    # probe 1's owner (face 0) ties for second
identification_rates(distances, owners=np.array([0, 0]), ks=(1, 2))

# %% [markdown]
# Probe 0 is found first: top-1 counts 1. Probe 1's owner is beaten by face 2 and tied with
# face 1: top-1 counts 0, top-2 counts one half. So top-1 is 0.5 and top-2 is 0.75.
#
# Four versions of each test subject go through the attack:
#
# * **original**: the real face; how well the attack can do at all (its ceiling);
# * **refaced**: what the generator made of the anonymized slices;
# * **anonymized**: the face as shared;
# * **average face**: the anonymized slices with the mean face of the training subjects
#   pasted into the anonymized pixels; a refacing that knows nobody in particular.

# %%
identification = pd.concat({ev.name: ev.identification for ev in evaluations}, axis=0)
print("gallery:", evaluations[0].gallery)
identification.round(3)

# %% [markdown]
# Read the refaced rows against the rows around them. The original row is the ceiling: how
# often this simple attack finds the right person when nothing was hidden. An anonymized row
# as high as the original means that the anonymization left the profile readable (blurring
# smears the skin but keeps the silhouette at this resolution). A refacing reveals identity
# only if it beats both the anonymized faces and the average face. With few test subjects
# (3 in the quick profile) one probe changes a rate by a third: the quick numbers show how the
# measurement works, not the paper's answer. A rate of k found among n probes is a binomial
# count, and its exact (Clopper-Pearson) 95% interval says how far the true rate may be: for
# 2 of 3 it runs from 0.09 to 0.99. `metrics.md` prints every rate with its interval and the
# chance level (k / gallery), and marks rates from fewer than 10 probes as not meaningful.
# The pretrained model below has 17 probes; on the real IXI data with the full profile there
# are 22 (Guy's) and 81 (all sites) probes against galleries of 322 and 581 faces.
#
# ## Whole heads: the weakness of 2-D
#
# Refacing works slice by slice. Applied to every sagittal slice of an anonymized head and
# stacked back, the slices do not know their neighbours. Here are the skin surfaces
# (marching cubes) of one test head: original, anonymized and refaced.

# %%
show("fig6_*.png")

# %% [markdown]
# The refaced head as a neuroimager would inspect it, with nilearn's `plot_anat`: sagittal
# cuts in scanner millimetres through the original, the anonymized and the refaced volume of
# the same test subject. Near the middle the refaced face sits where the original's was; away
# from it, each slice was refaced on its own.

# %%
head = next(ev for ev in evaluations if ev.volume is not None)
fig = plotting.anat_views({f"{head.name}: {version}": head.volume[version]
                           for version in ("original", "anonymized", "refaced")},
                          display_mode="x")
plotting.save_figure(fig, figure_dir, "refaced_head_nilearn")

# %% [markdown]
# Turn the three heads yourself: the viewer below shows the same skin surfaces (computed once)
# and turns them together, so that a seam between refaced slices can be looked at from any
# side. The picture is the viewer's starting view.

# %%
heads = HeadViewer({version: head.volume[version]
                    for version in ("original", "anonymized", "refaced")})
plotting.save_figure(heads.figure, figure_dir, "refaced_head_3d")
display(heads.figure)

# %%
heads

# %% [markdown]
# The **slice discontinuity** puts a number on it: inside the anonymized region, the mean
# difference between neighbouring sagittal planes divided by the mean difference between
# neighbouring voxels within a plane. A head scores about 1 (a little more for IXI, whose
# planes are 1.2 mm apart and in-plane voxels 0.94 mm); stacked 2-D outputs score higher
# where they do not fit together, and lower where they are smooth and featureless.

# %%
pd.DataFrame({ev.name: ev.volume["discontinuity"] for ev in evaluations}).round(3)

# %% [markdown]
# ## Whole heads in front of a face recognizer
#
# The studies that made defacing a rule did not compare profiles: they rendered the skin of
# MRI heads as pictures and gave them to face recognition software. `evaluate_run` runs that
# **render attack** too, on every test subject's whole head. Each head is rendered from the
# front and turned 15 degrees to either side, dlib's face detector looks for a face in each
# render, and where it finds one, dlib's face recognition network describes it with 128
# numbers. The gallery is the renders of the second scans of every subject; a head is
# identified when the closest description in the gallery is its own. A head in which no face
# is found scores the rate of guessing. Here is what the detector finds in the test head
# above, from the front:

# %%
fig = surfaces.plot_renders({version: head.volume[version]
                             for version in ("original", "anonymized", "refaced")})
plotting.save_figure(fig, figure_dir, "render_attack_views")

# %% [markdown]
# The rates of the render attack for each version of the test heads (there is no average-face
# version here: it would need a 3-D average head), with how many heads showed a face at all:

# %%
render = pd.concat({ev.name: ev.render for ev in evaluations if ev.render is not None})
render[["faces found", "top-1", "top-1 95% low", "top-1 95% high", "top-1 chance",
        "top-5"]].astype(float).round(3)

# %% [markdown]
# The original heads are the ceiling again: every original face is found and should be
# identified. A removed face leaves nothing to find. After the quick removal run the refaced
# heads show what the surfaces above showed: the refaced voxels fill the whole removed box from
# one side of the head to the other, slice by slice, and in the quick run the detector finds no
# face there, so the render attack scores chance on them, while the 2-D profile attack, which
# reads each slice on its own, may still find the person. The two attacks measure different
# things: the profile attack the silhouette of a few slices, the render attack the whole face
# as a camera would see it. A blurring run (notebook 05's exercise 1) keeps the eyes and the
# nose in place: try it.

# %% [markdown]
# The table of the results folder, `metrics.md`, sums it all up:

# %%
print((results / "metrics.md").read_text())

# %% [markdown]
# ## The pretrained course model
#
# The runs above trained for a few minutes on 64 x 64 slices. The course also ships
# generators trained for about 25 minutes each on a 2-core CPU
# (`refacing_lib/evaluate/pretrained/`, the `course` profile): the paper's network width, 128 x 128
# slices, 2,000 steps, with the same two course options as notebook 05, on a synthetic cohort of
# its own (120 subjects of seed 1, less two heads that the defacer refuses: 101 for training, 17
# for testing). Its 17 test subjects were never seen in training. `evaluate_pretrained` regenerates
# them from the seed, anonymizes them both ways, checks the shipped weights' sha256, and measures
# them exactly as above, with a gallery of the test subjects' second scans. Enough probes now for
# the identification rates to mean something, within their intervals.
#
# The model ships with the results of that measurement (`shipped_results()`, written by
# `refacing evaluate-pretrained`; the test suite measures again from the seed and compares), and
# they are what you see below unless you set `measure_pretrained = True` to measure here (the
# results are then kept in the data root's `pretrained-results/`, so a second run is quick).

# %%
if measure_pretrained:
    pretrained_results = results / "pretrained"
    evaluate_pretrained(pretrained_results, log=lambda line: None)
else:
    pretrained_results = shipped_results()
print((pretrained_results / "metrics.md").read_text())

# %% [markdown]
# Figs. 1, 2 and 3 for the pretrained model: blurred faces, removed faces, and all 21 slices
# of one blurred test head.

# %%
for name in ("fig1_blur.png", "fig2_remove.png", "fig3_slices.png"):
    display(Image(filename=str(pretrained_results / name)))

# %% [markdown]
# Your runs and the pretrained model side by side, on the test subjects of this notebook's
# dataset (new to both): the means over the test slices, each model at its own size.

# %%
measures = ["mae_changed", "correlation_changed", "mae_unchanged"]


def version_means(scores, version):
    """The mean of each measure of one version (anonymized or refaced) over the test slices."""
    return scores[[f"{version} {m}" for m in measures]].mean().to_numpy()


side_by_side = {}
for ev in evaluations:
    ds = open_dataset(layout.dataset(ev.experiment, ev.method))
    _, scores = score_pretrained(ds, ev.method)
    side_by_side[ev.name, "anonymized"] = version_means(ev.scores, "anonymized")
    side_by_side[ev.name, "your run"] = version_means(ev.scores, "refaced")
    side_by_side[ev.name, "pretrained"] = version_means(scores, "refaced")
pd.DataFrame(side_by_side, index=measures).T.round(3)

# %% [markdown]
# ## What it means for sharing anonymized MRI
#
# * **Blurring keeps information.** The blurred face still holds the bone, the trajectory of
#   the skin and the intensities; a network can learn to undo the blur (a deconvolution). The
#   paper found blurred faces convincingly restored. Blurring is not anonymization that can
#   be trusted against a determined attacker.
# * **Removal is harder to undo**, an inpainting problem: the generator invents a plausible
#   face, which the paper found "rarely resembled the original face". Whether such a face
#   identifies anyone is exactly what the re-identification attack measures; pixel measures
#   cannot tell.
# * **The head outside the face still identifies.** Ears, skull shape and the brain itself
#   remain; anonymization of the face is one layer of protection, not a guarantee.
# * **Ethics.** The Human Connectome Project shares face-blurred data of 1113 subjects, which
#   would have been an obvious test of generalization. The authors did not apply their networks
#   to them, to respect those subjects' privacy. Do the same: try these methods only on data
#   whose subjects agreed to this use (IXI's licence, the synthetic cohort), never on shared
#   anonymized data to see who is in it.
#
# ## Summary
#
# * Correlation and SSIM on the front half are the paper's measures; they are dominated by
#   untouched pixels and track what the eye sees poorly. Restricted to the changed pixels they
#   say more, but still not whether the face is recognisable.
# * The re-identification attack asks that directly: top-1 and top-5 rates of refaced faces
#   against a gallery, with the original faces as ceiling and the anonymized and average
#   faces as baselines.
# * Slice-by-slice refacing leaves seams between slices that a 3-D rendering shows.
# * `make reproduce-full` reproduces the paper's four experiments on IXI into one results
#   folder; the quick profile runs the same code on the synthetic cohort.
#
# ## Exercises
#
# 1. Compare the `anonymized` and `average face` identification rates with guessing (1/12
#    for top-1 and 5/12 for top-5, with 12 gallery faces). Which rows of the profile does
#    the attack compare, and what does each anonymization leave in them?
# 2. Make the attack harder for yourself: restrict the probe rows to the lower face (below the
#    nose) with `refacing_lib.evaluate.reidentify.profile_distances`. Which version loses most?
# 3. Train longer (notebook 05, `epochs = 6`, `restart = True`) and run this notebook again
#    (it evaluates each run with the settings it was trained with, so it takes the longer run
#    as it is). Which measure moves first: correlation, SSIM, or the top-1 rate? (To return
#    to the course's run: `epochs = 3`, `restart = True` in notebook 05.)
# 4. Find the test slice where refacing raised the correlation most over the anonymized slice
#    (`ev.scores`), and look at it. Does it look more like the original?
#
# Worked solutions: `solutions/06_evaluation_solutions.py` (try first).
#
# ## Further reading
#
# * D. Abramian and A. Eklund, "Refacing: reconstructing anonymized facial features using
#   GANs", IEEE ISBI 2019: its results (Figs. 1-5, reproduced here) and its discussion of 2-D
#   seams, inpainting and ethics.
# * Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image quality assessment: from
#   error visibility to structural similarity", IEEE Transactions on Image Processing 13, 2004:
#   SSIM.
# * C. G. Schwarz et al., "Identification of anonymous MRI research participants with
#   face-recognition software", New England Journal of Medicine 381, 2019, and "Changing the
#   face of neuroimaging research: comparing a new MRI de-facing technique with popular
#   alternatives", NeuroImage 231, 2021: re-identification of MRI faces by face recognition,
#   before and after defacing.
# * C. J. Clopper and E. S. Pearson, "The use of confidence or fiducial limits illustrated in
#   the case of the binomial", Biometrika 26, 1934: the exact intervals of the rates.
# * W. E. Lorensen and H. E. Cline, "Marching cubes: a high resolution 3D surface construction
#   algorithm", SIGGRAPH 1987: the skin surfaces.
# * M. Milchenko and D. Marcus, "Obscuring surface anatomy in volumetric imaging data",
#   Neuroinformatics 11, 2013, and A. Bischoff-Grethe et al., "A technique for the
#   deidentification of structural brain MR images", Human Brain Mapping 28, 2007: the two
#   anonymizations attacked.
