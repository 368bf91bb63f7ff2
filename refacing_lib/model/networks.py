"""The paper's CycleGAN networks in Keras 3: a ResNet generator and a PatchGAN discriminator.

The paper used GAN-MRI (Welander et al., 2018), a Keras 2 CycleGAN. These are the same
networks, layer for layer, in backend-neutral Keras 3 (``keras.layers`` and ``keras.ops``
only), so they run on TensorFlow, JAX or PyTorch:

* **generator** (24 convolutions, 2,849,537 parameters at 256 x 256 x 1): ``c7s1-32``
  (reflection padding 3, 7 x 7 convolution), ``d64``, ``d128`` (3 x 3 convolutions with stride
  2), nine residual blocks of two 3 x 3 convolutions at 128 channels, ``u64``, ``u32`` (3 x 3
  transposed convolutions with stride 2), ``c7s1-1`` and a tanh. Instance normalisation and
  ReLU follow every convolution but the last (the second convolution of a residual block has
  no ReLU: it is added to the block's input first).
* **discriminator** (5 convolutions, 2,764,481 parameters): a 70 x 70 PatchGAN, 4 x 4
  convolutions of 64 (stride 2, no normalisation), 128 (2), 256 (2) and 512 (1) filters, each
  followed by instance normalisation (not the first) and LeakyReLU 0.2, then a 1-channel 4 x 4
  convolution without sigmoid (the LSGAN losses compare it with 1 and 0). At 256 x 256 it
  outputs 32 x 32 scores, one per overlapping 70 x 70 patch.

Instance normalisation is ``GroupNormalization(groups=-1, epsilon=1e-5)``: one group per
channel, normalised over the image's pixels, with a learned scale and offset per channel.
"""

from __future__ import annotations

import keras
from keras import layers, ops

__all__ = ["ReflectionPadding2D", "AddClipped", "instance_norm", "residual_block",
           "build_generator", "generator_from_config",
           "build_discriminator", "count_convolutions", "receptive_field"]


@keras.saving.register_keras_serializable(package="refacing")
class ReflectionPadding2D(layers.Layer):
    """Pad height and width by ``padding`` pixels, mirroring the image at its border.

    Input and output are channels-last: (batch, height, width, channels) ->
    (batch, height + 2 padding, width + 2 padding, channels).
    """

    def __init__(self, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, x):
        p = self.padding
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, shape):
        grow = lambda n: None if n is None else n + 2 * self.padding  # noqa: E731
        return (shape[0], grow(shape[1]), grow(shape[2]), shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package="refacing")
class AddClipped(layers.Layer):
    """``clip(image + change, -1, 1)``: a change added to an image, kept in the image range.

    Called on ``[image, change]``, two tensors of the same shape; returns that shape.
    """

    def call(self, inputs):
        image, change = inputs
        return ops.clip(image + change, -1.0, 1.0)

    def compute_output_shape(self, shapes):
        return shapes[0]


def instance_norm(name: str | None = None) -> layers.Layer:
    """Instance normalisation: per image and channel, over height and width (epsilon 1e-5)."""
    return layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)


def _conv_norm_relu(x, filters, kernel, strides, name, transpose=False):
    conv = layers.Conv2DTranspose if transpose else layers.Conv2D
    x = conv(filters, kernel, strides=strides, padding="same", name=f"{name}_conv")(x)
    x = instance_norm(f"{name}_norm")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def residual_block(x, name: str):
    """Two 3 x 3 convolutions with instance normalisation, ReLU between them, plus the input.

    ``x`` has shape (batch, h, w, c); so has the result.
    """
    filters = x.shape[-1]
    y = _conv_norm_relu(x, filters, 3, 1, f"{name}_a")
    y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_b_conv")(y)
    y = instance_norm(f"{name}_b_norm")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def build_generator(image_size: int = 256, channels: int = 1, filters: int = 32,
                    residual_blocks: int = 9, input_skip: bool = False,
                    name: str = "generator") -> keras.Model:
    """The ResNet generator: images in [-1, 1] to images in [-1, 1], same shape.

    Parameters
    ----------
    image_size : int
        Side of the square input in pixels; a multiple of 4 (two stride-2 steps).
    channels : int
        Image channels (1 for MRI).
    filters : int
        Filters of the first convolution (32 in the paper); the down-sampling steps double them
        twice, so the residual blocks work at ``4 * filters`` channels.
    residual_blocks : int
        Residual blocks at the lowest resolution (9 in the paper).
    input_skip : bool
        False (the paper): the output is ``tanh(c7s1-1(...))``. True (a course option, not
        the paper's): the network predicts a change that is added to its input,
        ``clip(x + tanh(c7s1-1(...)), -1, 1)``, and its last convolution starts at zero, so an
        untrained generator returns its input unchanged and training only has to learn what
        differs (the face), not to copy the rest of the head.

    Returns
    -------
    keras.Model
        Input and output shape (batch, image_size, image_size, channels).
    """
    if image_size % 4:
        raise ValueError(f"image_size must be a multiple of 4, got {image_size}")
    inputs = keras.Input((image_size, image_size, channels), name="image")
    x = ReflectionPadding2D(3, name="c7s1_pad")(inputs)
    x = layers.Conv2D(filters, 7, padding="valid", name="c7s1_conv")(x)
    x = layers.ReLU(name="c7s1_relu")(instance_norm("c7s1_norm")(x))
    x = _conv_norm_relu(x, 2 * filters, 3, 2, "d1")
    x = _conv_norm_relu(x, 4 * filters, 3, 2, "d2")
    for i in range(residual_blocks):
        x = residual_block(x, f"res{i + 1}")
    x = _conv_norm_relu(x, 2 * filters, 3, 2, "u1", transpose=True)
    x = _conv_norm_relu(x, filters, 3, 2, "u2", transpose=True)
    x = ReflectionPadding2D(3, name="out_pad")(x)
    zero = dict(kernel_initializer="zeros") if input_skip else {}
    x = layers.Conv2D(channels, 7, padding="valid", name="out_conv", **zero)(x)
    outputs = layers.Activation("tanh", name="tanh")(x)
    if input_skip:
        outputs = AddClipped(name="skip")([inputs, outputs])
    return keras.Model(inputs, outputs, name=name)


def generator_from_config(config, name: str = "G_AB") -> keras.Model:
    """The generator a training's settings describe (a
    :class:`~refacing_lib.model.cyclegan.TrainConfig`: its ``image_size``, ``filters``,
    ``residual_blocks`` and ``input_skip``), for one-channel images; see
    :func:`build_generator`."""
    return build_generator(config.image_size, 1, config.filters, config.residual_blocks,
                           config.input_skip, name=name)


def build_discriminator(image_size: int = 256, channels: int = 1, filters: int = 64,
                        name: str = "discriminator") -> keras.Model:
    """The PatchGAN discriminator: an image to a grid of realness scores.

    Parameters
    ----------
    image_size : int
        Side of the square input; a multiple of 8.
    channels : int
    filters : int
        Filters of the first convolution (64 in the paper), doubled at each of the next three.

    Returns
    -------
    keras.Model
        Input (batch, image_size, image_size, channels); output (batch, image_size / 8,
        image_size / 8, 1) of unbounded scores (high: real).
    """
    if image_size % 8:
        raise ValueError(f"image_size must be a multiple of 8, got {image_size}")
    inputs = keras.Input((image_size, image_size, channels), name="image")
    x = layers.Conv2D(filters, 4, strides=2, padding="same", name="c1_conv")(inputs)
    x = layers.LeakyReLU(negative_slope=0.2, name="c1_lrelu")(x)
    for i, strides in enumerate((2, 2, 1), start=1):
        x = layers.Conv2D(filters * 2 ** i, 4, strides=strides, padding="same",
                          name=f"c{i + 1}_conv")(x)
        x = instance_norm(f"c{i + 1}_norm")(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"c{i + 1}_lrelu")(x)
    outputs = layers.Conv2D(1, 4, padding="same", name="score_conv")(x)
    return keras.Model(inputs, outputs, name=name)


def count_convolutions(model: keras.Model) -> int:
    """Number of convolution layers (plain and transposed) in ``model``."""
    return sum(isinstance(layer, (layers.Conv2D, layers.Conv2DTranspose))
               for layer in model.layers)


def receptive_field(model: keras.Model) -> int:
    """Side in input pixels of the patch that one output value of ``model`` sees.

    For a chain of plain convolutions (the discriminator): walking from input to output, each
    convolution adds ``(kernel - 1)`` times the product of the strides of those before it.
    """
    size, jump = 1, 1
    for layer in model.layers:
        if isinstance(layer, layers.Conv2DTranspose):
            raise ValueError(f"{model.name}: receptive_field does not handle "
                             "transposed convolutions")
        if isinstance(layer, layers.Conv2D):
            size += (layer.kernel_size[0] - 1) * jump
            jump *= layer.strides[0]
    return size
