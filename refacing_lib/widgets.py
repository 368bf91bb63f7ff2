"""Interactive slice browsers (ipywidgets) over the figures of :mod:`refacing_lib.plotting`.

Widgets need a live Jupyter kernel; in a static copy of a notebook (HTML, GitHub) they show
nothing, so every notebook draws a static figure before offering a browser.
"""

from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from .plotting import AXIS_NAMES, plot_losses, robust_max, show_slice

__all__ = ["SliceBrowser", "DatasetBrowser", "LossMonitor"]


class SliceBrowser:
    """Browse the slices of one or more RAS volumes along any axis.

    Parameters
    ----------
    volumes : dict of str to numpy.ndarray, or one numpy.ndarray
        Volumes of the same shape (nx, ny, nz) in RAS order, shown side by side (e.g.
        ``{"original": a, "blurred": b}``); a single array is shown alone.
    zooms : sequence of 3 floats
        Voxel size in mm along the axes.
    axis : int
        Initial axis: 0 sagittal (default, face to the right), 1 coronal, 2 axial.
    index : int, optional
        Initial slice; default the middle of the axis.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The controls and the figure; displaying the browser displays it.
    axis, index : ipywidgets.Dropdown, ipywidgets.IntSlider
        The controls; setting their ``value`` redraws.

    Examples
    --------
    >>> vol = load_volume("IXI002-Guys-0828-T1.nii.gz")        # doctest: +SKIP
    >>> SliceBrowser(vol.data, vol.zooms)                        # doctest: +SKIP
    """

    def __init__(self, volumes, zooms, axis: int = 0, index: int | None = None):
        if isinstance(volumes, np.ndarray):
            volumes = {"": volumes}
        shapes = {name: v.shape for name, v in volumes.items()}
        if len(set(shapes.values())) != 1 or any(len(s) != 3 for s in shapes.values()):
            raise ValueError(f"SliceBrowser needs 3-D volumes of one shape, got {shapes}")
        self.volumes = volumes
        self.zooms = tuple(zooms)
        self.shape = next(iter(shapes.values()))
        self._vmax = {name: robust_max(v) for name, v in volumes.items()}
        self.axis = W.Dropdown(options=[(f"{n} (axis {a})", a) for a, n in AXIS_NAMES.items()],
                               value=axis, description="view")
        n = self.shape[axis]
        self.index = W.IntSlider(value=n // 2 if index is None else index, min=0, max=n - 1,
                                 description="slice", continuous_update=False)
        self.output = W.Output()
        self.widget = W.VBox([W.HBox([self.axis, self.index]), self.output])
        self.axis.observe(self._on_axis, names="value")
        self.index.observe(lambda _: self.draw(), names="value")
        self.figure = None
        self.draw()

    def _on_axis(self, change) -> None:
        n = self.shape[change["new"]]
        with self.index.hold_trait_notifications():
            self.index.max = n - 1
            self.index.value = n // 2
        self.draw()

    def draw(self) -> None:
        """Redraw the current slice of every volume."""
        if self.figure is not None:
            plt.close(self.figure)
        ncols = len(self.volumes)
        self.figure, axes = plt.subplots(1, ncols, figsize=(4.5 * ncols, 4.5), squeeze=False,
                                         layout="constrained")
        for ax, (name, data) in zip(axes[0], self.volumes.items()):
            title = f"{name} {AXIS_NAMES[self.axis.value]} {self.index.value}".strip()
            show_slice(ax, data, self.zooms, self.axis.value, self.index.value, title=title,
                       vmax=self._vmax[name])
        with self.output:
            self.output.clear_output(wait=True)
            display(self.figure)
        plt.close(self.figure)

    def current_slices(self) -> dict[str, np.ndarray]:
        """The 2-D images on screen now, by volume name (rows up, columns right)."""
        return {name: np.asarray(ax.images[0].get_array())
                for name, ax in zip(self.volumes, self.figure.axes)}

    def _ipython_display_(self) -> None:
        display(self.widget)


class DatasetBrowser:
    """Browse the image pairs of a slice dataset: anonymized (A) beside original (B).

    Parameters
    ----------
    dataset : refacing_lib.datasets.SliceDataset
        From :func:`refacing_lib.datasets.open_dataset`.
    split : {"train", "test"}
        Initial split.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The controls and the figure.
    split, index : ipywidgets.Dropdown, ipywidgets.IntSlider
        The controls; setting their ``value`` redraws. The title of each image gives its
        subject, site, sagittal slice index and offset from the mid-plane.
    """

    def __init__(self, dataset, split: str = "train"):
        self.dataset = dataset
        self.split = W.Dropdown(options=["train", "test"], value=split, description="split")
        self.index = W.IntSlider(value=0, min=0, max=self._count(split) - 1,
                                 description="image", continuous_update=False)
        self.output = W.Output()
        self.widget = W.VBox([W.HBox([self.split, self.index]), self.output])
        self.split.observe(self._on_split, names="value")
        self.index.observe(lambda _: self.draw(), names="value")
        self.figure = None
        self.draw()

    def _count(self, split: str) -> int:
        return len(self.dataset.arrays[split, "A"])

    def _on_split(self, change) -> None:
        with self.index.hold_trait_notifications():
            self.index.max = self._count(change["new"]) - 1
            self.index.value = 0
        self.draw()

    def draw(self) -> None:
        """Redraw the current pair."""
        split, i = self.split.value, self.index.value
        meta = self.dataset.metadata
        row = meta[(meta["split"] == split) & (meta["index"] == i)].iloc[0]
        self.figure, axes = plt.subplots(1, 2, figsize=(9, 4.8), layout="constrained")
        for ax, domain in zip(axes, ("A", "B")):
            ax.imshow(self.dataset.images(split, domain, i), cmap="gray", vmin=-1, vmax=1)
            ax.set_title(f"{domain} ({'anonymized' if domain == 'A' else 'original'})")
            ax.set_axis_off()
        self.figure.suptitle(f"{split} {i}: {row['subject']} ({row['site']}), sagittal slice "
                             f"{row['slice']}, {row['offset_mm']:+.1f} mm from the mid-plane")
        with self.output:
            self.output.clear_output(wait=True)
            display(self.figure)
        plt.close(self.figure)

    def _ipython_display_(self) -> None:
        display(self.widget)


class LossMonitor:
    """A live loss plot for :func:`refacing_lib.training.train` (its ``on_step``).

    Collects the losses of every step and redraws :func:`refacing_lib.plotting.plot_losses`
    in place every ``every`` steps, in the notebook cell that created it.

    Parameters
    ----------
    every : int
        Steps between redraws (drawing takes a moment; the step itself is what matters).
    """

    def __init__(self, every: int = 50):
        self.every = int(every)
        self.history: dict[str, list] = {"step": []}
        self.figure, self.axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
        plt.close(self.figure)
        self.handle = display(self.figure, display_id=True)

    def __call__(self, step: int, losses: dict) -> None:
        self.history["step"].append(step)
        for name, value in losses.items():
            self.history.setdefault(name, []).append(value)
        if step % self.every == 0:
            self.draw()

    def draw(self) -> None:
        """Redraw the plot with every step collected so far."""
        if self.history["step"]:
            plot_losses(self.history, self.axes)
            if self.handle is not None:          # None outside a notebook
                self.handle.update(self.figure)
