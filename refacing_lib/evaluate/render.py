"""The render attack: face recognition on renders of a head's skin (evaluation only).

The studies that made defacing a rule rendered MRI heads as skin surfaces and gave the
renders to face recognition software (Schwarz et al., NEJM 2019: 70 of 84 volunteers matched
to their photographs; Schwarz et al., NeuroImage 2021, mri_reface: 97% of 157 before
defacing). This module runs that attack with open models:

1. :func:`render_skin` draws the skin of a volume as seen by a camera in front of the face
   (orthographic, optionally turned about the vertical axis), shaded like a plaster cast;
2. :class:`FaceRecognizer` finds a face in a render with dlib's CNN face detector, places
   dlib's 5-point landmarks and computes dlib's 128-d face descriptor (the models of the
   ``face-recognition-models`` package, offline; the 5-point landmark model rather than the
   68-point one, whose training data exclude commercial use);
3. :func:`descriptor_distances` compares probes with a gallery, and
   :func:`refacing_lib.evaluate.reidentify.identification_rates` counts how often the owner
   ranks first (or in the first five). A head without a detected face is equally far from
   everyone: it scores the rate of guessing.

Renders are uint8 images (rows: superior to inferior; columns: the subject's right to left,
as a camera facing the subject sees them); 0 is background.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from refacing_lib.anonymize.head_masks import largest_part
from refacing_lib.data.io import Volume

__all__ = ["SKIN_LEVEL", "YAWS", "render_skin", "render_views", "FaceRecognizer", "FaceFound",
           "head_face", "descriptor_distances", "render_identification", "render_attack"]

#: The skin lies where an image exceeds this fraction of its Otsu threshold (air is far
#: darker than skin and fat in T1).
SKIN_LEVEL = 0.3

#: The views of a head (degrees of yaw) whose descriptors :func:`head_face` averages.
YAWS = (-15.0, 0.0, 15.0)


def render_skin(volume: Volume, yaw_deg: float = 0.0, size: int = 200, fov_mm: float = 240.0,
                level: float | None = None) -> np.ndarray:
    """The skin of a head seen from the front, shaded, as a grey image.

    Rays run parallel from anterior to posterior through a square field of view centred on the
    head (the centroid of its voxels); the first sample above ``level`` is the skin. The
    depth map is lit from the front and a little above (Lambert), with some ambient light.

    Parameters
    ----------
    volume : Volume
        A whole head in RAS (:func:`refacing_lib.data.io.load_volume`); its face must be in
        the field of view of the scan.
    yaw_deg : float
        Turn of the head about the inferior-superior axis (through its centroid) before it is
        seen; the signs turn it to either side.
    size : int
        Image side in pixels.
    fov_mm : float
        Side of the field of view in mm (``fov_mm / size`` mm per pixel).
    level : float, optional
        Intensity of the skin's edge; default :data:`SKIN_LEVEL` times the Otsu threshold of
        the volume.

    Returns
    -------
    numpy.ndarray of uint8, shape (size, size)
        Row 0 superior, column 0 on the subject's right; 0 where no ray meets the head.
    """
    return render_views(volume, [yaw_deg], size, fov_mm, level)[0]


def render_views(volume: Volume, yaws=YAWS, size: int = 200, fov_mm: float = 240.0,
                 level: float | None = None) -> list[np.ndarray]:
    """:func:`render_skin` of one head at each yaw of ``yaws`` (degrees), the head found once."""
    from skimage.filters import threshold_otsu

    zooms = np.asarray(volume.zooms, float)
    data = ndimage.gaussian_filter(np.asarray(volume.data, np.float32), 1.0 / zooms)
    if level is None:
        level = SKIN_LEVEL * threshold_otsu(data[::2, ::2, ::2])
    head = largest_part(data > level)
    if not head.any():
        raise ValueError(f"{volume.path or 'volume'}: nothing above the skin level {level:g}")
    centre = volume.affine[:3, :3] @ np.mean(np.nonzero(head), axis=1) + volume.affine[:3, 3]
    data = np.where(ndimage.binary_dilation(head, iterations=2), data, 0.0)  # no specks
    step = fov_mm / size
    return [_shade(_depth_map(data, centre, volume.affine, level, np.radians(yaw), size, step),
                   step) for yaw in yaws]


def _depth_map(data, centre, affine, level, yaw, size, step) -> np.ndarray:
    """Distance in mm from the camera's plane to the skin per pixel (NaN: no skin), for the
    camera ``size * step`` mm in front of ``centre`` (RAS mm), turned by ``yaw`` (radians)."""
    half = size * step / 2
    u = (np.arange(size) + 0.5) * step - half              # camera right = subject's left
    v = half - (np.arange(size) + 0.5) * step              # row 0 superior
    w = np.arange(half, -half / 2, -step)                  # anterior (near) to behind the centre
    cos, sin = np.cos(yaw), np.sin(yaw)
    inverse = np.linalg.inv(affine)
    # voxel index = inverse @ (centre + u (cos, sin, 0) + w (-sin, cos, 0) + v (0, 0, 1))
    along_u, along_w = inverse[:3, :3] @ [cos, sin, 0.0], inverse[:3, :3] @ [-sin, cos, 0.0]
    along_v, origin = inverse[:3, 2], inverse[:3, :3] @ centre + inverse[:3, 3]
    voxels = np.empty((3, size, len(w), size), np.float32)  # (axis, u, depth, v)
    for i in range(3):
        voxels[i] = (origin[i] + along_u[i] * u[:, None, None] + along_w[i] * w[None, :, None]
                     + along_v[i] * v[None, None, :])
    samples = ndimage.map_coordinates(data, voxels, order=1, cval=0.0)
    inside = samples > level
    hit = inside.any(axis=1)
    first = inside.argmax(axis=1)                          # (size u, size v)
    before = np.take_along_axis(samples, np.maximum(first - 1, 0)[:, None], 1)[:, 0]
    at = np.take_along_axis(samples, first[:, None], 1)[:, 0]
    fraction = np.clip((level - before) / np.maximum(at - before, 1e-6), 0, 1)
    depth = (first - 1 + fraction) * step
    depth[first == 0] = 0.0
    return np.where(hit, depth, np.nan).T                  # (rows v, columns u)


def _shade(depth: np.ndarray, step: float) -> np.ndarray:
    """Lambert shading of a depth map (mm) lit from the front and 30 degrees above."""
    hit = np.isfinite(depth)
    filled = np.where(hit, depth, np.nanmax(depth) if hit.any() else 0.0)
    filled = ndimage.gaussian_filter(filled, 1.0)
    d_row, d_col = np.gradient(filled, step)
    normal = np.stack([d_col, -d_row, np.ones_like(filled)])  # x right, y up, z to the camera
    normal /= np.linalg.norm(normal, axis=0)
    light = np.array([0.0, np.sin(np.radians(30)), np.cos(np.radians(30))])
    shade = 0.15 + 0.85 * np.clip(np.tensordot(light, normal, axes=1), 0, 1)
    return np.where(hit, np.round(255 * shade), 0).astype(np.uint8)


@dataclass
class FaceFound:
    """A face :class:`FaceRecognizer` found in an image.

    Attributes
    ----------
    box : tuple of 4 ints
        (left, top, right, bottom) in pixels.
    confidence : float
        The detector's score (above 0 for a detection).
    landmarks : numpy.ndarray, shape (5, 2)
        (column, row) of the eye corners and the nose base.
    descriptor : numpy.ndarray, shape (128,)
        The face descriptor; faces of one person lie within about 0.6 of each other.
    """

    box: tuple[int, int, int, int]
    confidence: float
    landmarks: np.ndarray
    descriptor: np.ndarray


class FaceRecognizer:
    """dlib's CNN face detector, 5-point landmarks and face descriptor, loaded once.

    Parameters
    ----------
    upsample : int
        Times the detector doubles an image before searching (faces below about 80 pixels
        need one).
    """

    def __init__(self, upsample: int = 0):
        import dlib

        self.upsample = upsample
        self.detector = dlib.cnn_face_detection_model_v1(_model("mmod_human_face_detector.dat"))
        self.landmarks = dlib.shape_predictor(_model("shape_predictor_5_face_landmarks.dat"))
        self.encoder = dlib.face_recognition_model_v1(
            _model("dlib_face_recognition_resnet_model_v1.dat"))

    def find(self, image: np.ndarray) -> FaceFound | None:
        """The most confident face of ``image`` (uint8, (h, w) grey or (h, w, 3) RGB), or
        None if there is none."""
        rgb = np.ascontiguousarray(np.broadcast_to(image[..., None], (*image.shape, 3))
                                   if image.ndim == 2 else image, dtype=np.uint8)
        found = self.detector(rgb, self.upsample)
        if len(found) == 0:
            return None
        best = max(found, key=lambda d: d.confidence)
        shape = self.landmarks(rgb, best.rect)
        r = best.rect
        return FaceFound((r.left(), r.top(), r.right(), r.bottom()), float(best.confidence),
                         np.array([(p.x, p.y) for p in shape.parts()], float),
                         np.array(self.encoder.compute_face_descriptor(rgb, shape)))


def _model(name: str) -> str:
    """The path of one of dlib's model files in the ``face-recognition-models`` package,
    found without importing it (its ``__init__`` needs setuptools' ``pkg_resources``)."""
    from importlib.util import find_spec

    spec = find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the render attack needs the face-recognition-models package "
                          "(requirements.txt; `make` installs it)")
    path = Path(spec.submodule_search_locations[0]) / "models" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: dlib model missing; reinstall face-recognition-models")
    return str(path)


def descriptor_distances(probes: list, gallery: list) -> np.ndarray:
    """Euclidean distances between face descriptors, shape (len(probes), len(gallery)).

    An entry of either list is a (128,) descriptor or None (no face found); a probe or gallery
    entry without a face is at infinite distance from every other, so such a probe scores the
    rate of guessing in :func:`~refacing_lib.evaluate.reidentify.identification_rates`.
    """
    out = np.full((len(probes), len(gallery)), np.inf)
    for i, p in enumerate(probes):
        for j, g in enumerate(gallery):
            if p is not None and g is not None:
                out[i, j] = float(np.linalg.norm(np.asarray(p) - np.asarray(g)))
    return out


def head_face(volume: Volume, recognizer: FaceRecognizer,
              yaws=YAWS) -> tuple[np.ndarray | None, list]:
    """The face descriptor of a head: the mean of the descriptors of its renders at ``yaws``
    where a face is found (None if none is), and what was found in each render (a
    :class:`FaceFound` or None, in the order of ``yaws``)."""
    found = [recognizer.find(image) for image in render_views(volume, yaws)]
    descriptors = [f.descriptor for f in found if f is not None]
    return (np.mean(descriptors, axis=0) if descriptors else None), found


def render_identification(probes: list, gallery: list, owners=None) -> dict:
    """The render attack's rates: probes (descriptors or None, from :func:`head_face`) against
    a gallery; probe i belongs to gallery subject ``owners[i]`` (default: i, the gallery
    holds the probes' subjects in their order, maybe followed by others).

    Returns
    -------
    dict
        ``probes``, ``gallery``, ``faces found`` (fraction of probes with a face), and for k
        in 1 and 5: ``top-k`` (rate), ``top-k 95% low``/``high`` (exact interval) and
        ``top-k chance`` (k / gallery size).
    """
    from .reidentify import identification_rates, rate_interval

    owners = np.arange(len(probes)) if owners is None else np.asarray(owners, int)
    if not probes or len(owners) != len(probes) or not (0 <= owners).all() \
            or not (owners < len(gallery)).all():
        raise ValueError(f"need at least one probe and a gallery subject for each, got "
                         f"{len(probes)} probes, {len(gallery)} gallery subjects")
    rates = identification_rates(descriptor_distances(probes, gallery), owners)
    out = {"probes": len(probes), "gallery": len(gallery),
           "faces found": float(np.mean([p is not None for p in probes]))}
    for k, rate in rates.items():
        low, high = rate_interval(rate, len(probes))
        out.update({f"top-{k}": rate, f"top-{k} 95% low": low, f"top-{k} 95% high": high,
                    f"top-{k} chance": min(1.0, k / len(gallery))})
    return out


def render_attack(names: list[str], gallery: list[str], originals: str | Path,
                  anonymized: str | Path, generator=None, recognizer: FaceRecognizer | None = None,
                  progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The render attack on whole heads: the original, anonymized and refaced versions of the
    heads ``names`` against the faces of the ``gallery`` subjects.

    The gallery faces are rendered from ``originals/rescans/NAME`` when every gallery subject
    has a second scan there, otherwise from ``originals/NAME`` (then an original probe is its
    own gallery entry). The anonymized heads are ``anonymized/NAME``; the refaced ones are
    made from them by ``generator`` (:func:`refacing_lib.model.reface.reface_volume`, only the
    voxels of ``NAME_changed.nii.gz``); without a generator there is no refaced version.

    Parameters
    ----------
    names : list of str
        File names of the probe subjects, each also in ``gallery``.
    gallery : list of str
        File names of the gallery subjects.
    originals, anonymized : str or Path
        Folders of the original and the anonymized volumes.
    generator : keras.Model, optional
    recognizer : FaceRecognizer, optional
        Default: a new one.
    progress : bool
        Show a tqdm progress bar (heads rendered) on stderr.

    Returns
    -------
    rates : pandas.DataFrame
        One row per version (``original``, ``anonymized``, ``refaced``): the columns of
        :func:`render_identification`, and ``gallery from`` (``second scans`` or ``the
        probes' own scans``).
    heads : pandas.DataFrame
        One row per head and version (and ``gallery`` rows): ``name``, ``version``, ``views
        with a face`` (of :data:`YAWS`), ``note`` (says when no view shows a face: the face
        cut off by the field of view, removed, or not face-like).
    """
    from tqdm.auto import tqdm

    from refacing_lib.anonymize.files import changed_mask_path
    from refacing_lib.data.io import load_volume

    missing = sorted(set(names) - set(gallery))
    if missing:
        raise ValueError(f"probe subjects missing from the gallery: {missing}")
    originals, anonymized = Path(originals), Path(anonymized)
    recognizer = recognizer or FaceRecognizer()
    rescans = all((originals / "rescans" / n).is_file() for n in gallery)
    sources = {"gallery": originals / "rescans" if rescans else originals,
               "original": originals, "anonymized": anonymized}
    versions = ["original", "anonymized"] + (["refaced"] if generator is not None else [])
    bar = tqdm(total=len(gallery) + len(names) * len(versions), desc="render attack",
               unit="head", disable=not progress)
    faces, rows = {}, []
    for version, subjects in [("gallery", gallery)] + [(v, names) for v in versions]:
        faces[version] = []
        for name in subjects:
            if version == "refaced":
                from refacing_lib.model.reface import reface_volume

                path = anonymized / name
                mask = load_volume(changed_mask_path(path)).data > 0.5
                volume = reface_volume(generator, load_volume(path), mask)
                descriptor, row = _head_row(volume, recognizer, name, version)
            else:
                descriptor, row = _file_row(sources[version] / name, recognizer, version)
            faces[version].append(descriptor)
            rows.append(row)
            bar.update()
    bar.close()
    owners = [gallery.index(n) for n in names]
    rates = pd.DataFrame({v: render_identification(faces[v], faces["gallery"], owners)
                          for v in versions}).T
    rates["gallery from"] = "second scans" if rescans else "the probes' own scans"
    return rates, pd.DataFrame(rows)


#: Rows of :func:`_file_row` already computed in this process, by file (path, size, time):
#: a gallery shared by several evaluations is rendered once.
_FILE_ROWS: dict = {}


def _file_row(path: Path, recognizer: FaceRecognizer, version: str):
    """:func:`_head_row` of a volume file, remembered while the file is unchanged."""
    from refacing_lib.data.io import load_volume

    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_ROWS:
        _FILE_ROWS[key] = _head_row(load_volume(path), recognizer, path.name, "")
    descriptor, row = _FILE_ROWS[key]
    return descriptor, {**row, "version": version}


def _head_row(volume: Volume, recognizer: FaceRecognizer, name: str, version: str):
    """:func:`head_face` of one head, and its row of :func:`render_attack`'s ``heads``
    table; a head without a face says so instead of failing."""
    descriptor, found = head_face(volume, recognizer)
    views = sum(f is not None for f in found)
    note = "" if views else "no face in any view (cut off, removed or not face-like)"
    return descriptor, {"name": name, "version": version, "views with a face": views,
                        "note": note}
