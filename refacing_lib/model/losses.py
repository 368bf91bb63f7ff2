"""The CycleGAN's losses, as in GAN-MRI (the paper's code), in backend-neutral ``keras.ops``:
LSGAN losses for the generators and the discriminators, mean absolute error for the cycle,
identity and supervised terms (mean squared error as the supervised term's other choice).
Each returns a float scalar tensor: the mean over all elements."""

__all__ = ["lsgan_generator_loss", "lsgan_discriminator_loss", "mean_absolute_error",
           "mean_squared_error", "DISTANCES"]


def lsgan_generator_loss(fake_scores):
    """Mean of ``(D(fake) - 1)^2``: the generator wants its fakes judged real."""
    from keras import ops

    return ops.mean(ops.square(fake_scores - 1.0))


def lsgan_discriminator_loss(real_scores, fake_scores):
    """``0.5 * (mean((D(real) - 1)^2) + mean(D(fake)^2))``."""
    from keras import ops

    return 0.5 * (ops.mean(ops.square(real_scores - 1.0)) + ops.mean(ops.square(fake_scores)))


def mean_absolute_error(x, y):
    """Mean of ``|x - y|`` over all elements (the cycle, identity and supervised losses)."""
    from keras import ops

    return ops.mean(ops.abs(x - y))


def mean_squared_error(x, y):
    """Mean of ``(x - y)^2`` over all elements (the supervised loss's other choice)."""
    from keras import ops

    return ops.mean(ops.square(x - y))


DISTANCES = {"mae": mean_absolute_error, "mse": mean_squared_error}
"""The supervised term's distances, by the name ``TrainConfig.supervised_loss`` gives."""
