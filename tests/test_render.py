"""The render attack (refacing_lib.evaluate.render): skin renders of heads, dlib's face
detector, landmarks and descriptor, and identification from descriptors; and the synthetic
heads' human faces (refacing_lib.data.synthetic, faces="human"), which it recognises."""

import numpy as np
import pytest
from skimage import data as images

from refacing_lib.anonymize.files import deface_folders
from refacing_lib.data.io import Volume, load_volume, save_volume
from refacing_lib.evaluate.render import (
    FaceRecognizer,
    descriptor_distances,
    head_face,
    render_attack,
    render_identification,
    render_skin,
)

#: Where the astronaut's face lies in skimage's photograph (left, top, right, bottom), by eye.
ASTRONAUT_FACE = (160, 60, 270, 175)


@pytest.fixture(scope="module")
def recognizer():
    return FaceRecognizer()


def test_a_face_photograph_is_found_described_and_recognised(recognizer):
    photo = images.astronaut()
    face = recognizer.find(photo)
    left, top, right, bottom = face.box
    assert ASTRONAUT_FACE[0] <= left < right <= ASTRONAUT_FACE[2]
    assert ASTRONAUT_FACE[1] <= top < bottom <= ASTRONAUT_FACE[3]
    assert face.confidence > 0.5 and face.descriptor.shape == (128,)
    # the 5 landmarks (eye corners, nose base) lie inside the box
    assert face.landmarks.shape == (5, 2)
    assert ((face.landmarks >= (left, top)) & (face.landmarks <= (right, bottom))).all()
    # the same person mirrored, in grey and moved: within dlib's 0.6 of each other
    for other in (photo[:, ::-1], np.round(photo.mean(axis=2)).astype(np.uint8),
                  np.roll(photo, (40, -30), axis=(0, 1))):
        again = recognizer.find(other)
        assert np.linalg.norm(again.descriptor - face.descriptor) < 0.6
    assert recognizer.find(images.chelsea()) is None          # a cat
    assert recognizer.find(np.zeros((200, 200), np.uint8)) is None


def test_a_head_is_rendered_from_the_front(synth_small_cohort):
    _, paths = synth_small_cohort
    head = load_volume(paths[0])
    front = render_skin(head, size=120)
    assert front.shape == (120, 120) and front.dtype == np.uint8
    assert front[0, 0] == front[-1, -1] == 0 and front[60, 60] > 0      # air around the head
    rows, cols = np.nonzero(front)
    assert abs(cols.mean() - 59.5) < 6                                   # centred
    # a head is nearly symmetric: its render and its mirror image agree, a turned one less
    turned = render_skin(head, yaw_deg=30, size=120)
    assert _mirror_match(front) > 0.9 > _mirror_match(turned)
    # turning one way is the mirror image of turning the other way
    other = render_skin(head, yaw_deg=-30, size=120)
    assert np.corrcoef(other[:, ::-1].ravel(), turned.ravel())[0, 1] > 0.8
    # the renderer reads the volume's orientation: flipped arrays with a flipped affine
    flip = np.diag([-1.0, 1, 1, 1])
    flip[0, 3] = head.shape[0] - 1
    mirrored = Volume(head.data[::-1].copy(), head.affine @ flip, head.zooms)
    again = render_skin(mirrored, size=120).astype(int)
    assert np.mean(np.abs(again - front) > 2) < 0.005       # but a few pixels of the outline


def _mirror_match(image):
    return float(np.corrcoef(image.ravel(), image[:, ::-1].ravel())[0, 1])


def test_an_empty_volume_is_refused_with_its_name(tmp_path):
    volume = Volume(np.zeros((20, 20, 20), np.float32), np.eye(4), (1.0, 1.0, 1.0),
                    tmp_path / "empty.nii.gz")
    with pytest.raises(ValueError, match="empty.nii.gz: nothing above the skin level"):
        render_skin(volume)


def test_identification_from_descriptors_and_missing_faces():
    rng = np.random.default_rng(0)
    gallery = list(rng.normal(size=(6, 128)))
    probes = [g + 0.01 * rng.normal(size=128) for g in gallery]
    assert render_identification(probes, gallery)["top-1"] == 1.0
    probes[2] = probes[4] = None                      # no face found: a guess among six
    result = render_identification(probes, gallery)
    assert result["faces found"] == pytest.approx(4 / 6)
    assert result["top-1"] == pytest.approx((4 + 2 / 6) / 6)
    assert result["top-5"] == pytest.approx((4 + 2 * 5 / 6) / 6)
    assert result["top-1 chance"] == pytest.approx(1 / 6)
    assert 0 < result["top-1 95% low"] < result["top-1"] < result["top-1 95% high"] <= 1
    distances = descriptor_distances(probes, gallery)
    assert np.isinf(distances[2]).all() and np.isfinite(distances[0]).all()
    # three probes of a larger gallery, owned by gallery subjects 5, 0 and 3
    owned = render_identification([gallery[5], gallery[0], probes[2]], gallery, owners=[5, 0, 3])
    assert owned["probes"] == 3 and owned["gallery"] == 6
    assert owned["top-1"] == pytest.approx((2 + 1 / 6) / 3)
    with pytest.raises(ValueError, match="a gallery subject for each, got 3 probes, 6"):
        render_identification(probes[:3], gallery, owners=[0, 1, 6])
    with pytest.raises(ValueError, match="at least one probe"):
        render_identification([], gallery)


def test_render_attack_says_per_head_what_it_found(tmp_path):
    """Small heads, one anonymized head with its front half cut off, the other intact: every
    head gets its row, the cut one says that it shows no face, the intact one shows what its
    original shows, and without second scans the gallery is the probes' own scans."""
    from refacing_lib.data.synthetic import make_cohort

    paths = make_cohort(tmp_path / "orig", subjects=3, progress=False, shape=(40, 64, 64),
                        faces="human")
    names = [p.name for p in paths]
    (tmp_path / "anon").mkdir()
    for i, path in enumerate(paths[:2]):
        volume = load_volume(path)
        data = volume.data.copy()
        if i == 0:                                     # the face outside the field of view
            data[:, data.shape[1] // 2:] = 0
        save_volume(tmp_path / "anon" / path.name, data, volume.affine)
    rates, heads = render_attack(names[:2], names, tmp_path / "orig", tmp_path / "anon")
    assert list(rates.index) == ["original", "anonymized"]
    assert (rates["gallery from"] == "the probes' own scans").all()
    intact = heads[heads["name"] == names[1]].set_index("version")["views with a face"]
    assert intact["anonymized"] == intact["original"] == intact["gallery"]   # the same head
    assert rates.loc["original", "top-1 chance"] == pytest.approx(1 / 3)
    assert list(heads["version"]) == ["gallery"] * 3 + ["original"] * 2 + ["anonymized"] * 2
    cut = heads[(heads["version"] == "anonymized") & (heads["name"] == names[0])].iloc[0]
    assert cut["views with a face"] == 0 and cut["note"].startswith("no face in any view")
    with pytest.raises(ValueError, match="missing from the gallery.*" + names[2]):
        render_attack(names[2:], names[:2], tmp_path / "orig", tmp_path / "anon")


def test_face_kinds_are_checked_and_recorded(tmp_path):
    from refacing_lib.data.synthetic import make_cohort, sample_subject
    from refacing_lib.data.synthetic.face import Face

    params = sample_subject(0, "Guys")
    block, human = Face(params, "block"), Face(params)
    X, Z = np.meshgrid(np.linspace(-60, 60, 25), np.linspace(-120, 40, 33))
    assert not block.relief(X, Z).any()
    # the eyes sink under the brows, the lips end at the mouth's corners
    assert human.surface_y(human.ehs, human.z_e + 14) - human.surface_y(human.ehs, human.z_e) > 3
    assert block.surface_y(0, human.z_ls) - human.surface_y(0, human.z_ls) < 0.5
    assert block.surface_y(40, human.z_ls) - human.surface_y(40, human.z_ls) > 2
    # the philtrum: a groove at the midline between two columns, subnasale to upper lip
    z_philtrum = 0.5 * (human.z_sn + human.z_ls)
    assert human.relief(5.0, z_philtrum) - human.relief(0.0, z_philtrum) > 1.0
    with pytest.raises(ValueError, match="faces must be one of .*'alien'"):
        Face(params, "alien")
    shape = (40, 64, 64)
    (path,) = make_cohort(tmp_path, subjects=1, progress=False, shape=shape)     # human
    described = tmp_path / "truth" / path.name.replace(".nii.gz", ".json")
    assert '"faces": "human"' in described.read_text()
    before = load_volume(path).data
    make_cohort(tmp_path, subjects=1, progress=False, shape=shape, faces="block")  # again
    assert '"faces"' not in described.read_text()
    assert not np.array_equal(load_volume(path).data, before)


def test_human_noses_have_nostrils_beside_a_columella():
    """At the nostril's centre (6.5 mm from the midline, above and in front of the subnasale)
    a human face has air, a block face tissue; the columella between the nostrils is tissue."""
    from refacing_lib.data.synthetic import head_to_scanner, label_map, sample_subject
    from refacing_lib.data.synthetic.face import Face
    from refacing_lib.data.synthetic.face_anatomy import NOSTRIL
    from refacing_lib.data.synthetic.tissues import AIR, AIR_IN

    params = sample_subject(2, "HH")
    face = Face(params)
    (cx, cy, cz), _ = NOSTRIL
    scale = [params.scale_x, params.scale_y, params.scale_z, 1.0]    # canonical -> head mm
    points = scale * np.array([[cx, face.y_sn + cy, face.z_sn + cz, 1.0],      # the nostril
                               [0.0, face.y_sn + cy, face.z_sn + cz, 1.0]])    # the columella
    found = {}
    for kind in ("human", "block"):
        labels, affine = label_map(params, faces=kind)
        voxels = (np.linalg.inv(affine) @ head_to_scanner(params) @ points.T)[:3].T
        found[kind] = [labels[tuple(np.round(v).astype(int))] for v in voxels]
    assert found["human"][0] == AIR_IN and found["block"][0] not in (AIR, AIR_IN)
    assert found["human"][1] not in (AIR, AIR_IN)


@pytest.mark.slow
def test_human_faces_are_recognised_and_block_faces_are_not(tmp_path, recognizer):
    """Four full-size heads of a seed the course does not use, with rescans: the render attack
    finds their human faces, identifies every head among the second scans and finds no face
    once removed; the same heads with block faces show it no face
    (`benchmarks/bench_render_attack.py` measures 60 heads)."""
    from refacing_lib.data.synthetic import make_cohort

    def faces(folder, kind, rescans):
        make_cohort(folder, subjects=4, seed=5, rescans=rescans, progress=False, faces=kind)
        scans = [folder, folder / "rescans"] if rescans else [folder]
        return [[head_face(load_volume(p), recognizer) for p in sorted(scan.glob("IXI*.nii.gz"))]
                for scan in scans]

    human = tmp_path / "human"
    make_cohort(human, subjects=4, seed=5, rescans=True, progress=False, faces="human")
    deface_folders([human], {"remove": tmp_path / "removed"}, progress=False)
    names = sorted(p.name for p in human.glob("IXI*.nii.gz"))
    rates, heads = render_attack(names, names, human, tmp_path / "removed",
                                 recognizer=recognizer)
    seen = heads[heads["version"] != "anonymized"]                  # originals and rescans
    assert seen["views with a face"].sum() >= 0.9 * 3 * len(seen)   # 3 yaws per head
    assert rates.loc["original", "top-1"] == 1.0                    # every head identified
    assert (rates["gallery from"] == "second scans").all()
    assert rates.loc["anonymized", "faces found"] == 0.0            # removed faces
    (block,) = faces(tmp_path / "block", "block", rescans=False)
    assert sum(f is not None for _, views in block for f in views) <= 2
