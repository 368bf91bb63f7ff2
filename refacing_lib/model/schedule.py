"""The learning rate of the paper's training (GAN-MRI's): constant for the first part of the
steps, then falling linearly to 0 at the last step, as a Keras learning-rate schedule.

The optimizers evaluate it at their own step counter (``iterations``, part of every
checkpoint), so a resumed run, on either backend, goes on with the same rates.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["LinearDecay"]


@keras.saving.register_keras_serializable(package="refacing")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``base`` until step ``decay_from * total_steps``, then linearly down to 0 at step
    ``total_steps`` (steps counted from 0); ``total_steps=None`` keeps ``base`` for ever.

    Parameters
    ----------
    base : float
        The starting learning rate (2e-4 in the paper).
    total_steps : int or None
        Steps of the whole training.
    decay_from : float
        Fraction of the steps after which the rate falls (0.5 in the paper).
    """

    def __init__(self, base: float, total_steps: int | None = None, decay_from: float = 0.5):
        self.base = float(base)
        self.total_steps = None if total_steps is None else int(total_steps)
        self.decay_from = float(decay_from)

    def __call__(self, step):
        """The rate at ``step`` (a number or an array of numbers; float32)."""
        step = ops.cast(step, "float32")
        if self.total_steps is None:
            return ops.full(ops.shape(step), self.base, "float32")
        start = self.decay_from * self.total_steps
        if self.total_steps <= start:
            return ops.full(ops.shape(step), self.base, "float32")
        falling = ops.clip((self.total_steps - step) / (self.total_steps - start), 0.0, 1.0)
        return self.base * ops.where(step < start, 1.0, falling)

    def get_config(self) -> dict:
        return {"base": self.base, "total_steps": self.total_steps, "decay_from": self.decay_from}
