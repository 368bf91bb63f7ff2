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
# # Solutions · 04 · The CycleGAN model
#
# Worked solutions to the exercises at the end of `04_cyclegan_model`. They build networks
# and compute losses; nothing is trained or written.

# %% tags=["parameters"]
figure_dir = ""  # where figures are saved as PNG (make reproduce sets it); empty: not saved

# %%
import keras
import numpy as np

from refacing_lib.model.losses import lsgan_discriminator_loss, lsgan_generator_loss
from refacing_lib.model.networks import build_discriminator, build_generator, receptive_field

BLOCK = 2 * (3 * 3 * 128 * 128 + 128) + 2 * 256   # one residual block at 128 channels
PAPER = 2_849_537                                  # the paper's generator (9 blocks)

# %% [markdown]
# ## Exercise 1: six residual blocks
#
# Everything outside the residual blocks stays the same, so six blocks instead of nine remove
# exactly three blocks of 295,680 parameters: 2,849,537 - 3 x 295,680 = 1,962,497.

# %%
six = build_generator(256, residual_blocks=6)
print(f"6 blocks: {six.count_params():,} parameters; by hand {PAPER - 3 * BLOCK:,}")
assert BLOCK == 295_680
assert six.count_params() == PAPER - 3 * BLOCK == 1_962_497

# %% [markdown]
# ## Exercise 2: a fourth convolution with stride 2
#
# By hand, with strides 2, 2, 2, 2, 1 and kernels of 4: each convolution adds (4 - 1) times the
# product of the strides before it, 1 + 3 (1 + 2 + 4 + 8 + 16) = 94 pixels. Four stride-2
# steps divide the image by 16, so the output at 256 x 256 is 16 x 16 scores instead of
# 32 x 32. The copy below has the discriminator's layers with that one change.

# %%
def discriminator_with_strides(strides, image_size=256, filters=64):
    """build_discriminator's layers (4 x 4 convolutions), with the given strides."""
    inputs = keras.Input((image_size, image_size, 1))
    x = inputs
    for i, s in enumerate(strides):
        x = keras.layers.Conv2D(filters * 2 ** min(i, 3), 4, strides=s, padding="same")(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
    outputs = keras.layers.Conv2D(1, 4, padding="same")(x)
    return keras.Model(inputs, outputs)


paper = discriminator_with_strides((2, 2, 2, 1))
changed = discriminator_with_strides((2, 2, 2, 2))
print(f"paper: receptive field {receptive_field(paper)}, output {tuple(paper.output.shape[1:3])}")
print(f"fourth stride 2: receptive field {receptive_field(changed)}, "
      f"output {tuple(changed.output.shape[1:3])}")
assert receptive_field(paper) == receptive_field(build_discriminator(256)) == 70
assert receptive_field(changed) == 1 + 3 * (1 + 2 + 4 + 8 + 16) == 94
assert tuple(changed.output.shape[1:3]) == (16, 16)

# %% [markdown]
# ## Exercise 3: half the filters
#
# Almost all parameters are convolution kernels, which have (input channels) x (output
# channels) weights: halving both halves each factor, so the count falls by about 4. Only the
# biases and normalisation parameters (one per channel, a factor 2) and the first and last
# convolutions (one image channel on one side, a factor 2) shrink less, which keeps the
# ratio a little below 4.

# %%
quick_width = build_generator(256, filters=16, residual_blocks=9)
ratio = PAPER / quick_width.count_params()
print(f"paper {PAPER:,}, 16 filters {quick_width.count_params():,}: {ratio:.3f} times fewer")
assert 3.9 < ratio < 4.0

# %% [markdown]
# ## Exercise 4: "valid" padding
#
# Without padding, a 3 x 3 convolution with stride 2 on 64 pixels fits (64 - 3) // 2 + 1 = 31
# positions, and the transposed convolution gives back (31 - 1) x 2 + 3 = 63 pixels: one
# short. The generator's output is compared pixel by pixel with its input (the cycle loss)
# and with real images (the discriminator, the supervised loss), so it must have exactly the
# input's size; "same" padding makes each stride-2 step exactly halve or double it.

# %%
features = np.zeros((1, 64, 64, 32), dtype="float32")
down = keras.layers.Conv2D(64, 3, strides=2, padding="valid")(features)
up = keras.layers.Conv2DTranspose(32, 3, strides=2, padding="valid")(down)
print(f"valid: {features.shape[1]} -> {down.shape[1]} -> {up.shape[1]} pixels")
assert (down.shape[1], up.shape[1]) == (31, 63)

# %% [markdown]
# ## Exercise 5: a discriminator that cannot tell
#
# With every score 0.5: the real images miss 1 by 0.5 and the fakes miss 0 by 0.5, so
# $\mathcal{L}(D_B) = \frac12(0.25 + 0.25) = 0.25$. For the least-squares loss the best
# discriminator is $D^*(x) = p_{data}(x) / (p_{data}(x) + p_g(x))$: when the generator's
# images are distributed like the real ones, that is 0.5 everywhere, the value it settles at.
# The generator's LSGAN loss is then $(0.5 - 1)^2 = 0.25$ too.

# %%
half = np.full((1, 32, 32, 1), 0.5, dtype="float32")
d_loss = float(lsgan_discriminator_loss(half, half))
g_loss = float(lsgan_generator_loss(half))
print(f"L(D_B) = {d_loss:.4f}, L_GAN(G_AB) = {g_loss:.4f}")
assert np.isclose(d_loss, 0.25) and np.isclose(g_loss, 0.25)
