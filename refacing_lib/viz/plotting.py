"""Static figures of RAS volumes, shared by the notebooks and the widgets.

All functions take arrays in the course's RAS orientation (see :mod:`refacing_lib.data.io`) and
draw them in millimetres, so voxels that are not cubic (IXI: 1.2 x 0.9375 x 0.9375 mm) keep
their true proportions. Views: sagittal slices with the face to the right and the top up (as
in the paper's figures), coronal and axial slices with the subject's right on the right.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

__all__ = ["AXIS_NAMES", "slice_view", "show_slice", "show_mask", "show_orthogonal",
           "robust_max", "save_figure", "plot_losses", "weighted_terms", "plot_weighted_terms",
           "plot_site_scores", "plot_triplets", "plot_method_scores", "anat_views"]

AXIS_NAMES = {0: "sagittal", 1: "coronal", 2: "axial"}
# For a slice across axis a, the two remaining axes shown as (columns, rows) and their labels.
_IN_PLANE = {0: (1, 2, "posterior → anterior", "inferior → superior"),
             1: (0, 2, "left → right", "inferior → superior"),
             2: (0, 1, "left → right", "posterior → anterior")}


def slice_view(data: np.ndarray, axis: int, index: int) -> np.ndarray:
    """The 2-D image of slice ``index`` across ``axis``, ready for ``imshow(origin="lower")``.

    Parameters
    ----------
    data : numpy.ndarray, shape (nx, ny, nz)
        RAS volume.
    axis : int
        0 sagittal, 1 coronal, 2 axial.
    index : int
        Slice number along ``axis``.

    Returns
    -------
    numpy.ndarray, 2-D
        Rows run upwards (superior, or anterior for axial slices) and columns to the right
        (anterior for sagittal slices, the subject's right otherwise).
    """
    if axis not in _IN_PLANE:
        raise ValueError(f"axis must be 0 (sagittal), 1 (coronal) or 2 (axial), got {axis!r}")
    n = data.shape[axis]
    if not 0 <= index < n:
        raise IndexError(f"slice {index} is outside 0..{n - 1} along axis {axis}")
    return np.take(data, index, axis=axis).T


def show_slice(ax, data, zooms, axis=0, index=None, title=None, vmax=None, **imshow_kwargs):
    """Draw one slice of a RAS volume on ``ax`` in millimetres.

    Parameters
    ----------
    ax : matplotlib Axes
    data : numpy.ndarray, shape (nx, ny, nz)
        RAS volume.
    zooms : sequence of 3 floats
        Voxel size in mm along the axes of ``data``.
    axis : int
        0 sagittal (face to the right), 1 coronal, 2 axial.
    index : int, optional
        Slice number; default the middle of the axis.
    title : str, optional
    vmax : float, optional
        Upper end of the grey scale; default the 99.5th percentile of the volume's non-zero
        voxels, so that a few bright voxels do not darken the image.

    Returns
    -------
    matplotlib.image.AxesImage
    """
    index = data.shape[axis] // 2 if index is None else int(index)
    _, _, xlabel, ylabel = _IN_PLANE[axis]
    if vmax is None:
        vmax = robust_max(data)
    kwargs = dict(cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
    kwargs.update(imshow_kwargs)
    image = ax.imshow(slice_view(data, axis, index), origin="lower",
                      extent=_extent(data.shape, zooms, axis), **kwargs)
    ax.set_xlabel(f"{xlabel} (mm)")
    ax.set_ylabel(f"{ylabel} (mm)")
    ax.set_title(title or f"{AXIS_NAMES[axis]} slice {index}")
    return image


def show_mask(ax, mask, zooms, axis=0, index=None, color="red", alpha=0.35, outline=False):
    """Overlay one slice of a 3-D mask on a slice drawn by :func:`show_slice`.

    Parameters
    ----------
    ax : matplotlib Axes
    mask : numpy.ndarray of bool, shape (nx, ny, nz)
        RAS mask (a broadcast view is fine, e.g. a sagittal region repeated along axis 0).
    zooms : sequence of 3 floats
        Voxel size in mm.
    axis, index : int
        The slice, as for :func:`show_slice` (default index: the middle of the axis).
    color : matplotlib colour
    alpha : float
        Opacity of the filled area.
    outline : bool
        Also draw the mask's outline in ``color``.
    """
    index = mask.shape[axis] // 2 if index is None else int(index)
    view = slice_view(mask, axis, index).astype(bool)
    extent = _extent(mask.shape, zooms, axis)
    ax.imshow(np.ma.masked_where(~view, view), origin="lower", extent=extent, alpha=alpha,
              cmap=ListedColormap([color]), interpolation="nearest")
    if outline and view.any() and not view.all():
        ax.contour(view.astype(float), levels=[0.5], colors=[color], origin="lower",
                   extent=extent, linewidths=1.2)


def _extent(shape, zooms, axis):
    """imshow extent (mm) of a slice across ``axis``: (left, right, bottom, top)."""
    col, row, _, _ = _IN_PLANE[axis]
    return (0, shape[col] * zooms[col], 0, shape[row] * zooms[row])


def show_orthogonal(data, zooms, point=None, title=None, figsize=(13, 4.5)):
    """Three orthogonal slices (sagittal, coronal, axial) through ``point``.

    Parameters
    ----------
    data : numpy.ndarray, shape (nx, ny, nz)
        RAS volume.
    zooms : sequence of 3 floats
        Voxel size in mm.
    point : sequence of 3 ints, optional
        Voxel the three slices pass through; default the centre of the array.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    point = [n // 2 for n in data.shape] if point is None else [int(p) for p in point]
    fig, axes = plt.subplots(1, 3, figsize=figsize, layout="constrained")
    vmax = robust_max(data)
    for axis, ax in enumerate(axes):
        show_slice(ax, data, zooms, axis, point[axis], vmax=vmax,
                   title=f"{AXIS_NAMES[axis]} (axis {axis} = {point[axis]})")
    if title:
        fig.suptitle(title)
    return fig


def robust_max(data: np.ndarray, percentile: float = 99.5) -> float:
    """The ``percentile`` of the non-zero voxels of ``data`` (1.0 for an all-zero array)."""
    values = data[data > 0]
    return float(np.percentile(values, percentile)) if values.size else 1.0


def save_figure(fig, figure_dir: str | Path | None, name: str) -> Path | None:
    """Save ``fig`` as ``figure_dir/name.png`` (150 dpi); do nothing when ``figure_dir`` is empty.

    Notebooks call it for every figure; ``make reproduce`` passes a ``figure_dir`` under
    ``build/`` while an interactive session leaves it empty.
    """
    if not figure_dir:
        return None
    path = Path(figure_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    return path


def plot_losses(history, axes=None, window: int = 25):
    """Training losses against the step: generators on the left, discriminators on the right.

    Parameters
    ----------
    history : pandas.DataFrame or dict of lists
        Columns ``step``, ``g_AB``, ``g_BA``, ``cycle``, ``d_A``, ``d_B`` (``history.csv`` of a
        run, or what a live monitor collected); ``identity`` and ``supervised`` are drawn
        with the generators' when present and not all 0.
    axes : pair of matplotlib Axes, optional
        Default: a new figure with two panels.
    window : int
        Each curve is a running mean over this many steps (the raw losses are noisy, batch 1).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
    steps = np.asarray(history["step"])
    extra = tuple(name for name in ("identity", "supervised")
                  if name in history and np.any(np.asarray(history[name], dtype=float)))
    for ax, names, title in ((axes[0], ("g_AB", "g_BA", "cycle") + extra, "generators"),
                             (axes[1], ("d_A", "d_B"), "discriminators")):
        ax.clear()
        for name in names:
            values = np.asarray(history[name], dtype=float)
            n = min(window, len(values))
            smooth = np.convolve(values, np.ones(n) / n, mode="valid") if n else values
            ax.plot(steps[len(steps) - len(smooth):], smooth, label=name)
        ax.set(xlabel="step", ylabel=f"loss (running mean of {window})", title=title)
        ax.legend(fontsize=8)
    return axes[0].figure


def weighted_terms(history, config) -> dict[str, np.ndarray]:
    """Each term of the generators' objective times its weight, per step: what ``g_total``
    adds up (``g_AB + g_BA + cycle_weight * cycle + identity_weight * identity +
    supervised_weight * supervised``).

    Parameters
    ----------
    history : pandas.DataFrame or dict of lists
        A run's ``history.csv`` (columns named as :data:`refacing_lib.model.cyclegan.LOSSES`).
    config : TrainConfig
        The run's settings (its weights).

    Returns
    -------
    dict of str to numpy.ndarray
        Labels such as ``"10 x cycle"`` -> values per step; terms whose weight is 0 left out.
    """
    weights = {"g_AB": 1.0, "g_BA": 1.0, "cycle": config.cycle_weight,
               "identity": config.identity_weight, "supervised": config.supervised_weight}
    return {(name if w == 1.0 else f"{w:g} x {name}"): w * np.asarray(history[name], float)
            for name, w in weights.items() if w}


def plot_weighted_terms(history, config, ax=None, window: int = 25):
    """The terms of :func:`weighted_terms` against the step (running means of ``window``
    steps, log scale): which term drives the generators. Returns the figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    steps = np.asarray(history["step"])
    for label, values in weighted_terms(history, config).items():
        n = min(window, len(values))
        smooth = np.convolve(values, np.ones(n) / n, mode="valid")
        ax.plot(steps[len(steps) - len(smooth):], smooth, label=label)
    ax.set(xlabel="step", ylabel=f"term x weight (running mean of {window})", yscale="log",
           title="the generators' objective, term by term")
    ax.legend(fontsize=8)
    return ax.figure


def plot_site_scores(table, columns, ax=None, ylabel: str = ""):
    """Per-image scores in test order, sites separated by vertical lines (the paper's Fig. 4, 5).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per test image, in dataset order, with a ``site`` column and the score
        columns (e.g. :func:`refacing_lib.evaluate.metrics.similarity` joined with the metadata).
    columns : dict of str to str
        Score column -> legend label, e.g. ``{"refaced ssim": "refaced",
        "anonymized ssim": "anonymized"}``. Each is drawn as dots with its per-site means as
        horizontal segments of the same colour.
    ax : matplotlib Axes, optional
    ylabel : str

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.5), layout="constrained")
    x = np.arange(len(table))
    sites = np.asarray(table["site"])
    starts = [0] + [i for i in range(1, len(sites)) if sites[i] != sites[i - 1]]
    bounds = starts + [len(sites)]
    for column, label in columns.items():
        values = np.asarray(table[column], dtype=float)
        dots = ax.plot(x, values, ".", ms=3, label=label)[0]
        for a, b in zip(bounds[:-1], bounds[1:]):
            ax.hlines(np.nanmean(values[a:b]), a, b - 1, colors=dots.get_color(), lw=2)
    for a in starts[1:]:
        ax.axvline(a - 0.5, color="k", lw=0.8)
    for a, b in zip(bounds[:-1], bounds[1:]):
        ax.text((a + b - 1) / 2, 1.01, sites[a], transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=9)
    ax.set(xlabel="test image", ylabel=ylabel, xlim=(-0.5, len(sites) - 0.5))
    ax.legend(fontsize=8, loc="lower right")
    return ax


VERSIONS = ("original", "anonymized", "refaced")


def plot_triplets(panels: dict, titles: dict | None = None, size: float = 1.5,
                  versions=VERSIONS):
    """Original, anonymized and refaced slices in three rows, panels side by side (Figs. 1-3).

    Parameters
    ----------
    panels : dict of str to dict
        Panel title -> ``{"original": x, "anonymized": y, "refaced": z}``, each (n, h, w) in
        [-1, 1], face to the right; the panels are drawn left to right. Versions may differ
        in image size (e.g. two refacers at 64 and 128 pixels).
    titles : dict of str to list of str, optional
        Panel title -> one small title per column (e.g. the slice offsets).
    size : float
        Inches per image.
    versions : sequence of str
        The keys of each panel to draw, one row each, top to bottom.

    Returns
    -------
    matplotlib.figure.Figure
    """
    columns = sum(len(p[versions[0]]) for p in panels.values())
    rows = len(versions)
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns + 0.8, size * rows + 0.5),
                             squeeze=False, layout="constrained")
    start = 0
    for label, panel in panels.items():
        n = len(panel[versions[0]])
        for row, version in enumerate(versions):
            for k in range(n):
                ax = axes[row, start + k]
                ax.imshow(panel[version][k], cmap="gray", vmin=-1, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if row == 0:
                    below = titles[label][k] if titles and label in titles else ""
                    ax.set_title(f"{label if k == 0 else ''}\n{below}", fontsize=8)
            axes[row, start].set_ylabel(version)
        start += n
    return fig


def plot_method_scores(tables: dict):
    """Per-image correlation and SSIM of the refaced slices, one colour per anonymization.

    The paper's Figs. 4 and 5: two panels (correlation, SSIM), dots per test image, per-site
    means of the refaced (solid) and anonymized slices, sites separated by vertical lines.

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Anonymization (``"blur"``, ``"remove"``) -> per-image scores of one experiment
        (``refacing_lib.evaluate.evaluation.Evaluation.scores``), with the same test images in the
        same order.

    Returns
    -------
    matplotlib.figure.Figure
    """
    first = next(iter(tables.values()))
    for method, table in tables.items():
        if (list(table["name"]) != list(first["name"])
                or list(table["slice"]) != list(first["slice"])):
            raise ValueError(f"the {method} scores hold other test images than the first table's")
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True, layout="constrained")
    for ax, measure in zip(axes, ("correlation", "ssim")):
        merged = first[["site"]].copy()
        columns = {}
        for method, table in tables.items():
            for version in ("refaced", "anonymized"):
                merged[f"{version} {method}"] = table[f"{version} {measure}"].to_numpy()
                columns[f"{version} {method}"] = f"{version} ({method})"
        plot_site_scores(merged, columns, ax, ylabel=measure)
    axes[0].set_xlabel("")
    return fig


def anat_views(volumes: dict, display_mode: str = "ortho", cut_coords=None,
               size: tuple[float, float] = (10, 3.2), title: str | None = None):
    """Volumes drawn by nilearn's ``plot_anat``, one row each, in scanner millimetres.

    This is how neuroimaging software shows a head: orthogonal views through one point, or a
    row of cuts along one axis, with the cut positions in scanner (RAS+) mm, the subject's
    left and right marked, and radiological conventions made explicit.

    Parameters
    ----------
    volumes : dict of str to refacing_lib.data.io.Volume
        Row title -> volume (any orientation: nilearn reads the affine).
    display_mode : str
        nilearn's: ``"ortho"`` (sagittal, coronal, axial through one point), ``"x"``
        (sagittal cuts), ``"y"``, ``"z"``...
    cut_coords : sequence of float, optional
        Where to cut, in scanner mm: a point (x, y, z) for ``"ortho"``, the positions along
        the axis for ``"x"``, ``"y"`` or ``"z"``. Default: through the centre of the first
        volume's head (its voxels above half their Otsu threshold); for one-axis modes, five
        cuts from 40 mm left to 40 mm right of it.
    size : (width, height) in inches of one row
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import nibabel as nib
    from nilearn import plotting as nilearn_plotting
    from skimage.filters import threshold_otsu

    first = next(iter(volumes.values()))
    if cut_coords is None:
        data = np.asarray(first.data)
        head = np.argwhere(data > 0.5 * threshold_otsu(data[::2, ::2, ::2]))
        centre = nib.affines.apply_affine(first.affine, head.mean(axis=0))
        if display_mode == "ortho":
            cut_coords = tuple(float(c) for c in centre)
        else:
            axis = "xyz".index(display_mode)
            cut_coords = [float(centre[axis] + d) for d in (-40, -20, 0, 20, 40)]
    rows = len(volumes)
    fig = plt.figure(figsize=(size[0], size[1] * rows + (0.4 if title else 0)))
    top = 1 - (0.4 / fig.get_figheight() if title else 0)
    for i, (name, volume) in enumerate(volumes.items()):
        image = nib.Nifti1Image(np.asarray(volume.data, np.float32), volume.affine)
        vmax = robust_max(np.asarray(first.data))
        nilearn_plotting.plot_anat(image, display_mode=display_mode, cut_coords=cut_coords,
                                   figure=fig,
                                   axes=(0, top * (rows - 1 - i) / rows, 1, top / rows),
                                   title=name, vmin=0, vmax=vmax, black_bg=True, dim=0,
                                   colorbar=False)
    if title:
        fig.suptitle(title)
    return fig


