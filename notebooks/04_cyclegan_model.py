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
# # 04 · The CycleGAN: two generators, two discriminators, four losses
#
# **What you will learn**
#
# * what a CycleGAN is, and why the paper chose an *unpaired* method although its data is
#   paired;
# * the building blocks of its networks, each built small and checked by hand: instance
#   normalisation, reflection padding, the residual block, down- and up-sampling;
# * the paper's ResNet generator (24 convolutions) and PatchGAN discriminator (5), rebuilt in
#   Keras 3 and checked against the paper's counts;
# * what a 70 x 70 receptive field means on a head slice;
# * the LSGAN and cycle-consistency losses, as equations and as code;
# * what an untrained generator does to an anonymized slice, and what it costs to run.
#
# **Time**: about 25 minutes of reading; the notebook runs in well under a minute on a laptop
# (it builds the networks and runs each once; nothing is trained here).
#
# **You need**: notebook `03_slicing_and_datasets` (the slice datasets: domain A anonymized,
# domain B original, images in [-1, 1]). Some familiarity with convolutions helps; Keras is
# used only to build the models and call them.

# %% tags=["parameters"]
data_source = "synthetic"  # "synthetic": the course's generated cohort;
                           # "ixi": the real IXI T1 data
experiment = "all"  # the paper's split whose dataset is shown: "guys" or "all"
method = "remove"  # which anonymization's dataset to show a slice from
image_size = 64  # image size of the quick profile's networks (the paper: 256)
filters = 16  # generator width of the quick profile (the paper: 32)
residual_blocks = 6  # generator depth of the quick profile (the paper: 9)
figure_dir = ""  # where figures are saved as PNG (make reproduce sets it); empty: not saved

# %%
import time

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle
from skimage.transform import resize

from refacing_lib.data.layout import Layout
from refacing_lib.model.losses import (
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    mean_absolute_error,
)
from refacing_lib.model.networks import (
    ReflectionPadding2D,
    build_discriminator,
    build_generator,
    count_convolutions,
    instance_norm,
    receptive_field,
    residual_block,
)
from refacing_lib.model.training import TrainConfig
from refacing_lib.slicing.datasets import open_dataset
from refacing_lib.viz import plotting

layout = Layout(data_source)  # where this data source's files lie under data/

# %% [markdown]
# The first import of Keras loads TensorFlow, which takes a few seconds; on a machine without
# a GPU it prints a few lines about CUDA drivers, which are harmless.
#
# ## What a CycleGAN is
#
# The task is image-to-image translation between two **domains**:
#
# * **A**: anonymized slices (blurred or removed faces);
# * **B**: original slices, with faces.
#
# A CycleGAN (Zhu et al., 2017) learns both directions at once with four networks:
#
# | network | input | output | job |
# | --- | --- | --- | --- |
# | generator $G_{AB}$ | anonymized slice | refaced slice | put a face back (the paper's aim) |
# | generator $G_{BA}$ | original slice | anonymized-looking slice | take the face off again |
# | discriminator $D_B$ | B slice: real or by $G_{AB}$ | scores | real or refaced face? |
# | discriminator $D_A$ | A slice: real or by $G_{BA}$ | scores | real or fake anonymization? |
#
# Each generator is trained to fool its discriminator, and each discriminator to catch the
# fakes. That alone would let $G_{AB}$ draw *any* plausible face. The **cycle** ties the
# output to the input: an anonymized slice sent to B and back, $G_{BA}(G_{AB}(a))$, must give
# back $a$, and the same for $b$. The paper puts it so: "Because the data is unpaired, the
# problem of finding a mapping between two domains is underdetermined. To counteract this,
# CycleGAN employs a cycle consistency constraint".
#
# **Unpaired, although the data is paired.** A CycleGAN never needs to know which original
# belongs to which anonymized slice, and notebook 03's `cyclegan_pipeline` shuffles the two
# domains independently. Yet every anonymized slice *has* its original: anonymization was done
# by the experimenters. The paper chose the unpaired method (an implementation its group had,
# GAN-MRI), and in its discussion names the paired alternative as future work: "the use of a
# supervised learning model such as Pix2Pix, since the available data is paired". An attacker
# with a public anonymized dataset would often have no pairs, which is the situation the
# unpaired method models. The course trains both kinds; "The losses" below writes out where
# they differ.
#
# The networks below are those of GAN-MRI (Welander et al., 2018), the paper's code, layer for
# layer, in Keras 3 (`refacing_lib.model.networks`). The paper gives only two numbers about them:
# "The generators in the GAN have 24 convolutional layers, while the discriminators have 5."

# %% [markdown]
# ## Building blocks
#
# ### Instance normalisation
#
# After each convolution, the generator normalises every channel of every image on its own:
# subtract the mean over the pixels, divide by the standard deviation, then apply a learned
# scale $\gamma$ and offset $\beta$ per channel (1 and 0 before training):
#
# $$ y_{n,h,w,c} = \gamma_c \, \frac{x_{n,h,w,c} - \mu_{n,c}}{\sqrt{\sigma^2_{n,c} + \epsilon}} +
# \beta_c, \qquad \mu_{n,c}, \sigma^2_{n,c} \text{ over } h, w. $$
#
# Unlike batch normalisation, nothing is shared between images, so a batch of one (the paper's)
# works, and the contrast of one scan does not leak into another. Keras 3 has no layer of that
# name: it is `GroupNormalization` with one group per channel, and epsilon set to 1e-5 as in
# GAN-MRI. On a tiny batch of 2 images, 4 x 4 pixels, 3 channels:

# %%
rng = np.random.default_rng(0)
x = rng.normal(loc=3.0, scale=2.0, size=(2, 4, 4, 3)).astype("float32")
y = keras.ops.convert_to_numpy(instance_norm()(x))
mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
by_hand = (x - mean) / np.sqrt(var + 1e-5)
print("mean per image and channel:\n", y.mean(axis=(1, 2)).round(6) + 0.0)  # + 0.0: no -0.0
print("std per image and channel:\n", y.std(axis=(1, 2)).round(4))
print(f"largest difference from numpy: {np.abs(y - by_hand).max():.1e}")

# %% [markdown]
# Each of the 2 x 3 (image, channel) pairs now has mean 0 and standard deviation 1 (epsilon,
# added to the variance so that a flat image is not divided by 0, changes it by less than 1e-5
# here), and the layer agrees with the two-line numpy formula.
#
# ### Reflection padding
#
# A 7 x 7 convolution needs 3 pixels beyond each border. Zero padding would put a dark frame
# around every image, which the network would learn to draw; **reflection padding** mirrors
# the image instead (the border pixel itself is not repeated). The generator pads this way
# before its first and last convolutions:

# %%
tiny = np.arange(1, 10, dtype="float32").reshape(1, 3, 3, 1)
padded = keras.ops.convert_to_numpy(ReflectionPadding2D(1)(tiny))
print(tiny[0, ..., 0], "\n->\n", padded[0, ..., 0])
assert np.array_equal(padded[0, ..., 0], np.pad(tiny[0, ..., 0], 1, mode="reflect"))

# %% [markdown]
# ### The residual block
#
# The generator does most of its work in nine **residual blocks** at a quarter of the image
# size: a 3 x 3 convolution, instance normalisation, ReLU, another 3 x 3 convolution and
# normalisation, and the block's input **added** to the result. A block that learns nothing
# passes its input through, so nine of them can be stacked without the signal degrading; each
# block only learns a correction. At 128 channels one block has
# $2 \times (3 \cdot 3 \cdot 128 \cdot 128 + 128)$ convolution weights and biases and
# $2 \times 256$ normalisation parameters ($\gamma$ and $\beta$ of 128 channels):

# %%
inputs = keras.Input((16, 16, 128))
block = keras.Model(inputs, residual_block(inputs, "demo"), name="residual_block")
expected = 2 * (3 * 3 * 128 * 128 + 128) + 2 * 256
print(f"residual block: output {block.output.shape}, {block.count_params():,} parameters "
      f"(by hand {expected:,})")
assert block.count_params() == expected == 295_680

# %% [markdown]
# ### Down-sampling and up-sampling
#
# A 3 x 3 convolution with **stride 2** evaluates the kernel at every other pixel: the image
# shrinks by half in each direction, while the number of channels doubles. A **transposed**
# convolution with stride 2 does the opposite: it spreads every input pixel over a 2 x 2 (and
# overlapping 3 x 3) region of an image twice as large. The generator goes down twice and up
# twice, so its output has the size of its input:

# %%
features = np.zeros((1, 64, 64, 32), dtype="float32")
down = keras.layers.Conv2D(64, 3, strides=2, padding="same")(features)
up = keras.layers.Conv2DTranspose(32, 3, strides=2, padding="same")(down)
print(f"input {features.shape} -> stride-2 conv {tuple(down.shape)} -> "
      f"stride-2 transposed conv {tuple(up.shape)}")

# %% [markdown]
# Working at a quarter of the size makes the residual blocks 16 times cheaper per channel and
# lets each 3 x 3 kernel see 4 times further in the image.
#
# ## The generator
#
# Assembled, at the paper's 256 x 256 pixels and 1 channel:
#
# | stage | layers (norm: instance normalisation) | output |
# | --- | --- | --- |
# | `c7s1` | reflection pad 3, 7 x 7 conv, 32 filters, norm, ReLU | 256x256x32 |
# | `d1`, `d2` | 3 x 3 conv stride 2, 64 then 128 filters, norm, ReLU | 128x128x64, 64x64x128 |
# | `res1`..`res9` | residual blocks | 64x64x128 |
# | `u1` | 3 x 3 transposed conv stride 2, 64 filters, norm, ReLU | 128x128x64 |
# | `u2` | 3 x 3 transposed conv stride 2, 32 filters, norm, ReLU | 256x256x32 |
# | `out` | reflection pad 3, 7 x 7 conv, 1 filter, tanh | 256x256x1 |
#
# The final tanh keeps the output in [-1, 1], the range of the dataset's images. Keras's
# `summary()` lists all 80-odd layers; grouped by stage they read:

# %%
generator = build_generator(256)
layers_table = pd.DataFrame({
    "stage": [layer.name.split("_")[0] for layer in generator.layers],
    "output shape": [tuple(layer.output.shape[1:]) for layer in generator.layers],
    "parameters": [layer.count_params() for layer in generator.layers],
    "convolutions": [int(isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)))
                     for layer in generator.layers],
})
layers_table.groupby("stage", sort=False).agg(
    {"output shape": "last", "parameters": "sum", "convolutions": "sum"})

# %%
g_params, g_convs = generator.count_params(), count_convolutions(generator)
print(f"generator: {g_convs} convolutions, {g_params:,} parameters "
      f"(the paper: 24 convolutions; GAN-MRI: 2,849,537 parameters)")
assert (g_convs, g_params) == (24, 2_849_537)

# %% [markdown]
# 1 + 2 + 9 x 2 + 2 + 1 = 24 convolutions, as in the paper, counting the two transposed ones.
# The nine residual blocks hold 2,661,120 of the 2.85 million parameters, 93 %.
#
# ## The discriminator: a PatchGAN
#
# The discriminator does not give one verdict per image but a **grid** of them: four 4 x 4
# convolutions of 64, 128, 256 and 512 filters (the first three with stride 2), each followed
# by LeakyReLU 0.2 and (all but the first) instance normalisation, then a 4 x 4 convolution to
# one channel. There is no sigmoid at the end: the LSGAN losses below compare the raw scores
# with 1 (real) and 0 (fake).

# %%
keras.utils.set_random_seed(0)  # the same random weights, and figure, at every run
discriminator = build_discriminator(256)
convs = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Conv2D)]
pd.DataFrame({"layer": [c.name for c in convs], "kernel": [c.kernel_size[0] for c in convs],
              "stride": [c.strides[0] for c in convs], "filters": [c.filters for c in convs],
              "output shape": [tuple(c.output.shape[1:]) for c in convs],
              "parameters": [c.count_params() for c in convs]})

# %%
d_params, d_convs = discriminator.count_params(), count_convolutions(discriminator)
field = receptive_field(discriminator)
print(f"discriminator: {d_convs} convolutions, {d_params:,} parameters, output "
      f"{tuple(discriminator.output.shape[1:])}, receptive field {field} x {field} pixels")
assert (d_convs, d_params, field) == (5, 2_764_481, 70)
assert tuple(discriminator.output.shape[1:3]) == (32, 32)

# %% [markdown]
# **The receptive field.** One output score depends on a limited patch of the input. Walking
# from the input, each convolution widens the patch by (kernel - 1) times the product of the
# strides before it: $1 + 3 \cdot 1 + 3 \cdot 2 + 3 \cdot 4 + 3 \cdot 8 + 3 \cdot 8 = 70$.
# So each of the 32 x 32 scores judges one **70 x 70 patch** of the slice, and neighbouring
# scores look at patches shifted by 8 pixels (the three strides of 2), which overlap heavily.
# The discriminator's loss is the mean over all patches: it asks "does every part of this
# image look real?" rather than "is this a real head?". A patch judges texture and local
# shape, while the overall layout is left to the generator and the cycle loss. How large is 70
# pixels? Here it is on a test slice of the dataset, with the scores that an (untrained)
# discriminator gives that slice.

# %%
folder = layout.dataset(experiment, method)
if not (folder / "dataset.json").is_file():
    raise FileNotFoundError(f"{folder}: no slice dataset yet. Build it by running notebook "
                            f"03_slicing_and_datasets, or from a terminal (after `refacing "
                            f"deface`): refacing slices --source {data_source} --experiment "
                            f"{experiment} --method {method}")
ds = open_dataset(folder)
if data_source == "synthetic":
    print(f"SYNTHETIC DATA: slices of the course's generated heads in {folder}, "
          "not real subjects.")
test = ds.metadata[ds.metadata["split"] == "test"]
row = test.loc[test["offset_mm"].abs().idxmin()]
k = int(row["index"])
a_full, b_full = ds.images("test", "A", k), ds.images("test", "B", k)
print(f"test slice {k}: {row['subject']} ({row['site']}), {row['offset_mm']:+.1f} mm from the "
      f"mid-sagittal plane, {a_full.shape[0]} x {a_full.shape[1]} pixels")

# %%
head = np.nonzero(b_full > -0.8)
tip = np.argmax(head[1])  # the most anterior head pixel: the tip of the nose
top, right = head[0][tip] - field // 2, min(head[1][tip] + 6, b_full.shape[1]) - field
scores = keras.ops.convert_to_numpy(discriminator(b_full[None, ..., None]))[0, ..., 0]
fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), layout="constrained")
axes[0].imshow(b_full, cmap="gray", vmin=-1, vmax=1)
axes[0].add_patch(Rectangle((right - 0.5, top - 0.5), field, field, fill=False,
                           color="tab:orange", lw=2))
axes[0].set_title(f"original slice (B): one {field} x {field} patch (66 mm)")
shown = axes[1].imshow(scores, cmap="viridis")
axes[1].set_title(f"untrained D_B: {scores.shape[0]} x {scores.shape[1]} scores")
fig.colorbar(shown, ax=axes[1], shrink=0.8, label="score")
for ax in axes:
    ax.set_axis_off()
plotting.save_figure(fig, figure_dir, "patchgan_receptive_field");

# %% [markdown]
# A 70 x 70 patch at 0.9375 mm per pixel covers 66 mm: about the nose and upper lip together.
# The discriminator can judge whether a nose looks like a nose, but not whether it sits at the
# right height on this particular head. Before training its scores mean nothing: they are
# whatever the random kernels make of the local contrast. Training must push them towards 1
# on real slices and towards 0 on the generator's fakes.
#
# ## The losses
#
# GAN-MRI, and so the paper, uses the **least-squares GAN** (LSGAN, Mao et al., 2017): the
# discriminator's scores are pushed towards 1 for real images and 0 for fakes with a squared
# error, which gives smoother gradients than the original GAN's log loss. For the refacing
# direction, with $a$ an anonymized and $b$ an original slice, and the mean taken over the
# batch and the 32 x 32 patch scores:
#
# $$ \mathcal{L}_{\mathrm{GAN}}(G_{AB}) = \operatorname{mean}\big[(D_B(G_{AB}(a)) - 1)^2\big] $$
#
# $$ \mathcal{L}(D_B) = \tfrac12 \Big( \operatorname{mean}\big[(D_B(b) - 1)^2\big]
#    + \operatorname{mean}\big[D_B(G_{AB}(a))^2\big] \Big) $$
#
# and the same with A and B exchanged for $G_{BA}$ and $D_A$. The **cycle-consistency** loss is
# a mean absolute (L1) error, over all pixels, in both directions:
#
# $$ \mathcal{L}_{\mathrm{cyc}} = \operatorname{mean}\big|G_{BA}(G_{AB}(a)) - a\big|
#    + \operatorname{mean}\big|G_{AB}(G_{BA}(b)) - b\big| $$
#
# The two generators are trained together on the **total generator loss**
#
# $$ \mathcal{L}_G = \mathcal{L}_{\mathrm{GAN}}(G_{AB}) + \mathcal{L}_{\mathrm{GAN}}(G_{BA})
#    + \lambda \, \mathcal{L}_{\mathrm{cyc}}, \qquad \lambda = 10, $$
#
# while each discriminator minimises its own loss. With $\lambda = 10$, reproducing the input
# through the cycle weighs much more than fooling the discriminators: a generator that
# invented a face unrelated to the input could not be undone by $G_{BA}$. The library's
# functions take Keras tensors or numpy arrays; on made-up 2 x 2 score grids and 2 x 2 images:

# %%
real_scores = np.array([[0.9, 1.2], [0.8, 1.0]], dtype="float32")
fake_scores = np.array([[0.1, -0.2], [0.3, 0.0]], dtype="float32")
image = np.array([[-1.0, 0.5], [0.2, 1.0]], dtype="float32")
cycled = np.array([[-0.8, 0.4], [0.2, 0.7]], dtype="float32")
values = {"generator (fakes judged)": lsgan_generator_loss(fake_scores),
          "discriminator": lsgan_discriminator_loss(real_scores, fake_scores),
          "cycle L1 (one direction)": mean_absolute_error(image, cycled)}
for label, value in values.items():
    print(f"{label:>25}: {float(value):.4f}")

# %% [markdown]
# The discriminator loss by hand: the real scores miss 1 by 0.1, 0.2, 0.2 and 0, the fakes miss
# 0 by 0.1, 0.2, 0.3 and 0, so it is $\frac12 (0.09/4 + 0.14/4)$.

# %%
by_hand = 0.5 * (np.mean((real_scores - 1) ** 2) + np.mean(fake_scores ** 2))
print(f"by hand: {by_hand:.4f}")
assert np.isclose(by_hand, float(values["discriminator"]))
config = TrainConfig()
print(f"training defaults (TrainConfig): cycle weight {config.cycle_weight}, learning rate "
      f"{config.learning_rate}, beta_1 {config.beta_1}, batch {config.batch_size}, "
      f"pool {config.pool_size}, epochs {config.epochs}")

# %% [markdown]
# ### Two families: the paper's unpaired CycleGAN and a paired one
#
# The library's step (notebook 05 shows its code) minimises, for the two generators together,
#
# $$ \mathcal{L}_G = \underbrace{\mathcal{L}_{\mathrm{GAN}}(G_{AB})}_{\texttt{g\_AB}}
#    + \underbrace{\mathcal{L}_{\mathrm{GAN}}(G_{BA})}_{\texttt{g\_BA}}
#    + \lambda_{\mathrm{cyc}} \underbrace{\mathcal{L}_{\mathrm{cyc}}}_{\texttt{cycle}}
#    + \lambda_{\mathrm{id}} \underbrace{\big(\operatorname{mean}|G_{AB}(b) - b|
#      + \operatorname{mean}|G_{BA}(a) - a|\big)}_{\texttt{identity}}
#    + \lambda_{\mathrm{sup}} \underbrace{\big(d(G_{AB}(a), b)
#      + d(G_{BA}(b), a)\big)}_{\texttt{supervised}} $$
#
# with $\lambda_{\mathrm{cyc}}$ = `cycle_weight`, $\lambda_{\mathrm{id}}$ = `identity_weight`,
# $\lambda_{\mathrm{sup}}$ = `supervised_weight` and $d$ = `supervised_loss` (`"mae"`: mean
# absolute error, `"mse"`: mean squared error). The names under the braces are the columns of
# a run's `history.csv`, and `g_total` is $\mathcal{L}_G$. Two settings give two families:
#
# | | unpaired CycleGAN (the paper's) | paired CycleGAN, squared error |
# |---|---|---|
# | profiles | `full` | `quick`, `course` |
# | $\lambda_{\mathrm{cyc}}$, $\lambda_{\mathrm{id}}$ | 10, 0 | 10, 0 |
# | $\lambda_{\mathrm{sup}}$, $d$ | 0: no supervised term | 1000, mean squared error |
# | batches $a$, $b$ | drawn independently | paired: $b$ is the original of $a$ |
#
# The first is the CycleGAN of GAN-MRI, trained on batches from different subjects and slice
# positions. The second is close to Pix2Pix, which the paper names as future work ("since the
# available data is paired"), with the cycle and the discriminators kept.
#
# With $\lambda_{\mathrm{sup}} = 1000$ the squared error to the true original outweighs every
# other term (notebook 05 plots each term times its weight during a training): the paired
# model learns the mapping from examples, the unpaired one only from the discriminators and
# the cycle.
#
# Notebook 05 puts these pieces into one training step, with the rest of GAN-MRI's recipe: Adam
# with learning rate 2e-4 and beta_1 0.5, batches of one image, a pool of the last 50 fakes
# for the discriminators, 200 epochs with the learning rate decaying linearly to 0 over the
# second half.
#
# ## What an untrained generator does
#
# The quick profile trains smaller images than the paper, `image_size` pixels instead of 256,
# and narrower, shallower generators (`filters` and `residual_blocks`: 16 and 6 instead of 32
# and 9), so that a CPU trains them in minutes. The architecture is the same, and it is fully
# convolutional: the parameter count does not depend on the image size, but a 70-pixel patch
# covers more of a smaller head. Here is the test slice of domain A, shrunk to that size with
# anti-aliasing, sent through a freshly initialised $G_{AB}$, and back through an equally fresh
# $G_{BA}$: the cycle of the loss above.

# %%
keras.utils.set_random_seed(0)
g_ab = build_generator(image_size, filters=filters, residual_blocks=residual_blocks, name="G_AB")
g_ba = build_generator(image_size, filters=filters, residual_blocks=residual_blocks, name="G_BA")
a, b = (resize(img, (image_size, image_size), anti_aliasing=True, preserve_range=True)
        .astype("float32") for img in (a_full, b_full))
start = time.perf_counter()
refaced = keras.ops.convert_to_numpy(g_ab(a[None, ..., None]))[0, ..., 0]
seconds = time.perf_counter() - start
cycled = keras.ops.convert_to_numpy(g_ba(refaced[None, ..., None]))[0, ..., 0]
print(f"G_AB at {image_size} x {image_size} ({g_ab.count_params():,} parameters): {seconds:.2f} s")
print(f"output: from {refaced.min():.2f} to {refaced.max():.2f}, mean {refaced.mean():.2f}, "
      f"correlation with the input {np.corrcoef(refaced.ravel(), a.ravel())[0, 1]:.2f}")
print(f"L1 from the original B: untrained G_AB(a) {float(mean_absolute_error(refaced, b)):.3f}, "
      f"the anonymized input itself {float(mean_absolute_error(a, b)):.3f}")
print(f"cycle L1 |G_BA(G_AB(a)) - a|: {float(mean_absolute_error(cycled, a)):.3f}")

# %%
fig, axes = plt.subplots(1, 4, figsize=(14, 3.9), layout="constrained")
panels = [(a, "input: anonymized a (A)"), (refaced, "untrained G_AB(a)"),
          (cycled, "untrained G_BA(G_AB(a))"), (b, "target: the original b (B)")]
for ax, (img, title) in zip(axes, panels):
    ax.imshow(img, cmap="gray", vmin=-1, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
fig.suptitle(f"test slice {k} at {image_size} x {image_size} pixels, before training")
plotting.save_figure(fig, figure_dir, "untrained_generator");

# %% [markdown]
# The untrained output is noise: values over the whole range [-1, 1], grey on average, with no
# trace of the head (its correlation with the input is close to 0). The random kernels mix the
# input into features that have nothing to do with anatomy, and instance normalisation
# rescales every feature map to unit variance at every stage, so the random part dominates
# what comes out. The fine checkerboard is typical of **transposed convolutions** with a 3 x 3
# kernel and stride 2: the output pixels receive contributions from 1, 2 or 4 input pixels in
# an alternating pattern, and only training evens it out. By the L1 measure this network is
# far worse than doing nothing (returning the anonymized input unchanged), and the cycle does
# not give back the input either.
#
# Training has to learn three things: to reproduce the intensities (black air at -1, bright
# fat and skin), to keep everything that anonymization left alone (the brain, the back of the
# head) where it is, and to draw a plausible face where A has none. The first two are pushed
# by the cycle loss, the last by the discriminator.
#
# **What it costs.** One generator pass at 256 x 256 is about 25 GFLOP (the discriminator
# about 6.5); a training step runs both generators and both discriminators forwards and
# backwards, about 400 GFLOP. With the paper's networks the course measured about 0.66 s per
# step at 64 x 64, 2.4 s at 128 x 128 and 9.3 s at 256 x 256 on a 2-core CPU
# (`benchmarks/bench_training.py`), so the paper's 200 epochs of the 6300 Guy's images
# (1.26 million steps) would take about four months there; the paper's GPU did it in about
# two days. The quick profile therefore trains narrower networks at 64 x 64 for a few epochs
# (minutes). The first call of a compiled training step also traces the graph, which takes
# 10 to 30 s before the first step. One pass of the paper-size generator on this machine, for
# comparison (an eager call, slower than the compiled one that inference uses, which took
# 0.43 s on an idle 2-core CPU; slower still when other programs share the cores):

# %%
full = np.zeros((1, 256, 256, 1), dtype="float32")
generator(full)  # the first call sets up the kernels; time the second
start = time.perf_counter()
generator(full)
print(f"paper-size generator, one 256 x 256 image: {time.perf_counter() - start:.2f} s")

# %% [markdown]
# ## Summary
#
# * A CycleGAN learns the anonymized-to-original mapping $G_{AB}$ together with its inverse
#   $G_{BA}$, with a discriminator per domain; the cycle loss makes up for the missing pairs.
#   The paper's data is paired, and it names Pix2Pix, a paired method, as future work.
# * The generator (GAN-MRI's, as the paper used it): reflection padding, a 7 x 7 convolution,
#   two stride-2 convolutions, nine residual blocks at 128 channels, two transposed
#   convolutions, a 7 x 7 convolution and a tanh; instance normalisation throughout.
#   24 convolutions, 2,849,537 parameters.
# * The discriminator is a PatchGAN: 5 convolutions, 2,764,481 parameters, 32 x 32 scores at
#   256 x 256, each judging a 70 x 70 patch.
# * Losses: LSGAN (squared error towards 1 or 0) for generators and discriminators, L1 cycle
#   consistency with weight 10.
# * Untrained, the generator returns noise unrelated to its input; training at 256 x 256 costs
#   about 400 GFLOP per step, which is why the CPU profiles train small images.
#
# ## Exercises
#
# 1. Build the generator with `residual_blocks=6` (the CycleGAN authors' choice for 128 x 128
#    images). How many parameters does it have? Check your answer against the 295,680
#    parameters of one block.
# 2. What would the discriminator's receptive field be if its fourth convolution had stride 2?
#    Compute it by hand, then check with `receptive_field` on a copy of the model
#    (hint: build the layers yourself, or edit `build_discriminator` in a scratch copy). What
#    would the output size be at 256 x 256?
# 3. Build the paper's generator and the quick profile's one (`filters=16`) with 9 residual
#    blocks each. By what factor do the parameters shrink, and why is it close to 4 rather
#    than 2?
# 4. Replace `padding="same"` with `"valid"` in the down-sampling demo. What shapes do you get,
#    and why does the generator need the output to have exactly the input's size?
# 5. Compute $\mathcal{L}(D_B)$ for a discriminator that outputs 0.5 everywhere, for real and
#    fake images alike. Why is that the value a discriminator that cannot tell them apart
#    settles at, and what is then the generator's LSGAN loss?
#
# Worked solutions: `solutions/04_cyclegan_model_solutions.py` (try first).
#
# ## Further reading
#
# * J.-Y. Zhu, T. Park, P. Isola and A. A. Efros, "Unpaired image-to-image translation using
#   cycle-consistent adversarial networks" (CycleGAN), ICCV 2017 (arXiv:1703.10593).
# * X. Mao et al., "Least squares generative adversarial networks" (LSGAN), ICCV 2017
#   (arXiv:1611.04076).
# * P. Welander, S. Karlsson and A. Eklund, "Generative adversarial networks for
#   image-to-image translation on multi-contrast MR images: a comparison of CycleGAN and UNIT",
#   arXiv:1806.07777, 2018; code GAN-MRI (github.com/simontomaskarlsson/GAN-MRI): the
#   implementation the paper used, and the networks of this notebook.
# * P. Isola et al., "Image-to-image translation with conditional adversarial networks",
#   CVPR 2017: the 70 x 70 PatchGAN discriminator.
# * J. Johnson, A. Alahi and L. Fei-Fei, "Perceptual losses for real-time style transfer and
#   super-resolution", ECCV 2016: the ResNet generator; D. Ulyanov, A. Vedaldi and
#   V. Lempitsky, "Instance normalization: the missing ingredient for fast stylization",
#   arXiv:1607.08022, 2016.
# * I. Goodfellow et al., "Generative adversarial nets", NeurIPS 2014: where GANs started.
#
# Next: `05_training`, where the four networks learn, and the refaced slices appear.
