"""Heads in 3-D: the skin surface of a volume as a triangle mesh (marching cubes), drawn shaded
with matplotlib, alone or side by side (original, anonymized, refaced), and the front renders
that the render attack gives to face recognition (:func:`plot_renders`). Volumes are RAS
arrays with their voxel sizes in mm.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .plotting import VERSIONS

__all__ = ["skin_mesh", "plot_skin_surface", "plot_meshes", "plot_surfaces", "plot_renders"]


def skin_mesh(data: np.ndarray, zooms, level: float, step: int = 2):
    """The skin surface of a head as a shaded triangle mesh (marching cubes), in mm.

    The head is the voxels above ``level`` after a 1-voxel Gaussian smoothing, with every
    axial slice's holes filled (so that no inner surface, such as the airways, shows through).

    Returns
    -------
    triangles : numpy.ndarray, shape (t, 3, 3)
        The corners of each triangle, in mm (RAS axes, from the first voxel).
    shade : numpy.ndarray, shape (t,)
        Lambert shading of each triangle, from 0.15 to 1, lit from the front right.
    span : numpy.ndarray, shape (3,)
        Size of the volume in mm (the axes' limits).
    """
    from scipy import ndimage
    from skimage.measure import marching_cubes

    head = ndimage.gaussian_filter(np.asarray(data, np.float32), 1.0) > level
    for k in range(head.shape[2]):
        head[..., k] = ndimage.binary_fill_holes(head[..., k])
    surface = ndimage.gaussian_filter(head.astype(np.float32), 1.0)
    verts, faces, normals, _ = marching_cubes(surface, 0.5, spacing=tuple(map(float, zooms)),
                                              step_size=step)
    light = np.array([0.3, 1.0, 0.4]) / np.linalg.norm([0.3, 1.0, 0.4])
    shade = np.clip(np.abs(normals[faces].mean(axis=1) @ light), 0.15, 1.0)
    return verts[faces], shade, np.asarray(data.shape) * np.asarray(zooms, float)


def plot_skin_surface(ax, data: np.ndarray, zooms, level: float, step: int = 2,
                      color=(0.85, 0.7, 0.6), mesh=None, elevation: float = 10,
                      azimuth: float = 60):
    """Render the skin of a head as a shaded 3-D surface (marching cubes), seen from the front.

    Parameters
    ----------
    ax : matplotlib 3-D Axes (``projection="3d"``)
    data : numpy.ndarray, shape (nx, ny, nz)
        RAS volume.
    zooms : tuple of 3 floats
        Voxel size in mm.
    level : float
        Intensity of the skin surface (use the same for the versions you compare).
    step : int
        Marching-cubes step in voxels: larger is coarser and faster.
    color : RGB tuple
    mesh : tuple, optional
        :func:`skin_mesh` of ``data``, when already computed (``data``, ``level`` and
        ``step`` are then not used).
    elevation, azimuth : float
        Viewing angles in degrees (matplotlib's ``view_init``); the default looks at the
        front-right of the face.
    """
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    triangles, shade, span = mesh if mesh is not None else skin_mesh(data, zooms, level, step)
    ax.add_collection3d(Poly3DCollection(
        triangles, facecolors=np.asarray(color)[None] * shade[:, None], linewidths=0))
    ax.set(xlim=(0, span[0]), ylim=(0, span[1]), zlim=(0, span[2]))
    ax.set_box_aspect(tuple(span))              # a copy: matplotlib rescales an array in place
    ax.view_init(elev=elevation, azim=azimuth)
    ax.set_axis_off()


def plot_meshes(meshes: dict, elevation: float = 10, azimuth: float = 60, size: float = 3.6):
    """Skin meshes (:func:`skin_mesh`) side by side, all seen from the same angle.

    Parameters
    ----------
    meshes : dict of str to tuple
        Title -> :func:`skin_mesh` result, e.g. original, anonymized and refaced.
    elevation, azimuth : float
        The common viewing angles in degrees.
    size : float
        Width of each panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = plt.figure(figsize=(size * len(meshes), size * 1.05), layout="constrained")
    for col, (title, mesh) in enumerate(meshes.items()):
        ax = fig.add_subplot(1, len(meshes), col + 1, projection="3d")
        plot_skin_surface(ax, None, None, 0, mesh=mesh, elevation=elevation, azimuth=azimuth)
        ax.set_title(title, fontsize=10)
    return fig


def plot_surfaces(heads: dict, step: int = 2):
    """Skin surfaces of original, anonymized and refaced heads, one row per head.

    Parameters
    ----------
    heads : dict of str to dict
        Row title -> ``{"original": Volume, "anonymized": Volume, "refaced": Volume}``
        (e.g. :func:`refacing_lib.evaluate.evaluation.evaluate_volume`). The surface level is half
        the Otsu threshold of each row's original, for all three.
    step : int
        Marching-cubes step in voxels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from skimage.filters import threshold_otsu

    fig = plt.figure(figsize=(11, 3.8 * len(heads)), layout="constrained")
    for row, (label, head) in enumerate(heads.items()):
        level = 0.5 * threshold_otsu(np.asarray(head["original"].data)[::2, ::2, ::2])
        for col, version in enumerate(VERSIONS):
            ax = fig.add_subplot(len(heads), 3, 3 * row + col + 1, projection="3d")
            plot_skin_surface(ax, head[version].data, head[version].zooms, level, step)
            ax.set_title(f"{label}: {version}", fontsize=9)
    return fig


def plot_renders(volumes: dict, recognizer=None, yaw_deg: float = 0.0):
    """Heads as the render attack sees them, side by side: the skin rendered from the front
    (:func:`refacing_lib.evaluate.render.render_skin`, turned by ``yaw_deg``), with the face
    that dlib's detector finds (its box and 5 landmarks) or "no face found".

    Parameters
    ----------
    volumes : dict of str to Volume
        Title -> whole head (RAS).
    recognizer : refacing_lib.evaluate.render.FaceRecognizer, optional
        Default: a new one.
    yaw_deg : float
        Turn of every head about its vertical axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.patches import Rectangle

    from refacing_lib.evaluate.render import FaceRecognizer, render_skin

    recognizer = recognizer or FaceRecognizer()
    fig, axes = plt.subplots(1, len(volumes), figsize=(3 * len(volumes), 3.4), squeeze=False,
                             layout="constrained")
    for ax, (title, volume) in zip(axes[0], volumes.items()):
        image = render_skin(volume, yaw_deg=yaw_deg)
        found = recognizer.find(image)
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        if found is None:
            title += "\nno face found"
        else:
            left, top, right, bottom = found.box
            ax.add_patch(Rectangle((left, top), right - left, bottom - top, fill=False,
                                   edgecolor="lime", linewidth=1.5))
            ax.plot(found.landmarks[:, 0], found.landmarks[:, 1], "o", color="red", ms=3)
            title += f"\nface found (score {found.confidence:.2f})"
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    return fig
