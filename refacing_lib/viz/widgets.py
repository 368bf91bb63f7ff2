"""Interactive slice browsers (ipywidgets) over the figures of :mod:`refacing_lib.viz.plotting`.

Widgets need a live Jupyter kernel; in a static copy of a notebook (HTML, GitHub) they show
nothing, so every notebook draws a static figure before offering a browser.
"""

from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from .plotting import AXIS_NAMES, plot_losses, robust_max, show_slice
from .surfaces import plot_meshes, skin_mesh

__all__ = ["SliceBrowser", "DatasetBrowser", "HeadViewer", "LossMonitor"]


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
    dataset : refacing_lib.slicing.datasets.SliceDataset
        From :func:`refacing_lib.slicing.datasets.open_dataset`.
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


class HeadViewer:
    """Turn the skin surfaces of several heads together: original, anonymized, refaced.

    The surfaces are computed once (marching cubes, :func:`refacing_lib.viz.surfaces.skin_mesh`,
    at one intensity level for all heads); the sliders turn every head to the same angle.

    Parameters
    ----------
    volumes : dict of str to Volume or numpy.ndarray
        Title -> RAS volume, all on the same grid (e.g. ``evaluate_volume``'s ``original``,
        ``anonymized`` and ``refaced``); arrays need ``zooms``.
    zooms : sequence of 3 floats, optional
        Voxel size in mm, for arrays (a Volume carries its own).
    level : float, optional
        Skin intensity; default half the Otsu threshold of the first volume.
    step : int
        Marching-cubes step in voxels (3: about 2.8 mm on IXI, quick to draw).
    azimuth, elevation : int
        Initial viewing angles in degrees (60, 10: the front-right of the face).

    Attributes
    ----------
    widget : ipywidgets.VBox
    azimuth, elevation : ipywidgets.IntSlider
        "turn" (around the vertical axis) and "tilt"; setting their ``value`` redraws.
    figure : matplotlib.figure.Figure
        The last drawn picture (closed; ``display(viewer.figure)`` shows it statically).
    """

    def __init__(self, volumes: dict, zooms=None, level: float | None = None, step: int = 3,
                 azimuth: int = 60, elevation: int = 10):
        from skimage.filters import threshold_otsu

        arrays = {name: np.asarray(getattr(v, "data", v), np.float32)
                  for name, v in volumes.items()}
        shapes = {a.shape for a in arrays.values()}
        if len(shapes) != 1 or len(next(iter(shapes))) != 3:
            raise ValueError(f"HeadViewer needs 3-D volumes of one shape, got "
                             f"{ {k: a.shape for k, a in arrays.items()} }")
        zooms = tuple(zooms if zooms is not None else next(iter(volumes.values())).zooms)
        first = next(iter(arrays.values()))
        self.level = float(level if level is not None
                           else 0.5 * threshold_otsu(first[::2, ::2, ::2]))
        self.meshes = {name: skin_mesh(a, zooms, self.level, step) for name, a in arrays.items()}
        self.azimuth = W.IntSlider(value=azimuth, min=-180, max=180, step=5, description="turn",
                                   continuous_update=False)
        self.elevation = W.IntSlider(value=elevation, min=-80, max=80, step=5,
                                     description="tilt", continuous_update=False)
        self.output = W.Output()
        self.widget = W.VBox([W.HBox([self.azimuth, self.elevation]), self.output])
        self.azimuth.observe(lambda _: self.draw(), names="value")
        self.elevation.observe(lambda _: self.draw(), names="value")
        self.figure = None
        self.draw()

    def draw(self) -> None:
        """Redraw every head at the sliders' angles."""
        self.figure = plot_meshes(self.meshes, self.elevation.value, self.azimuth.value)
        self.figure.suptitle(f"skin surfaces, turned {self.azimuth.value}°, "
                             f"tilted {self.elevation.value}°", fontsize=10)
        with self.output:
            self.output.clear_output(wait=True)
            display(self.figure)
        plt.close(self.figure)

    def _ipython_display_(self) -> None:
        display(self.widget)


class LossMonitor:
    """A live loss plot for :func:`refacing_lib.model.training.train` (its ``on_step``).

    Collects the losses of every step and redraws :func:`refacing_lib.viz.plotting.plot_losses`
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
