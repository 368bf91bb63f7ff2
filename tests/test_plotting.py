"""Static figures and the slice browser show RAS volumes face-right, top-up, in mm."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from refacing_lib.viz.plotting import (
    save_figure,
    show_mask,
    show_orthogonal,
    show_slice,
    slice_view,
)
from refacing_lib.viz.widgets import SliceBrowser


def test_sagittal_view_puts_anterior_right_and_superior_up(ras_volume):
    data, _, _ = ras_volume
    image = slice_view(data, axis=0, index=11)
    # rows: inferior->superior (z), columns: posterior->anterior (y)
    assert image.shape == (20, 16)
    assert image[-1, -1] == 5000 and image[0, 0] == 100 * 11 + 1
    np.testing.assert_array_equal(image[:, 3], data[11, 3, :])


@pytest.mark.parametrize("axis, shape", [(1, (20, 12)), (2, (16, 12))])
def test_coronal_and_axial_views_put_right_on_the_right(ras_volume, axis, shape):
    data, _, _ = ras_volume
    image = slice_view(data, axis=axis, index=data.shape[axis] - 1)
    assert image.shape == shape and image[-1, -1] == 5000
    assert image[0, -1] > image[0, 0]  # values grow to the subject's right (axis 0)


def test_slice_outside_volume_is_a_clear_error(ras_volume):
    data, _, _ = ras_volume
    with pytest.raises(IndexError, match="slice 12 is outside 0..11 along axis 0"):
        slice_view(data, 0, 12)
    with pytest.raises(ValueError, match="axis must be"):
        slice_view(data, 3, 0)


def test_show_slice_uses_millimetres(ras_volume):
    data, _, zooms = ras_volume
    fig, ax = plt.subplots()
    image = show_slice(ax, data, zooms, axis=0)
    assert image.get_extent() == pytest.approx((0, 16 * 0.9375, 0, 20 * 0.9375))
    fig2 = show_orthogonal(data, zooms, point=(3, 4, 5))
    extents = [a.images[0].get_extent() for a in fig2.axes]
    assert extents[1] == pytest.approx((0, 12 * 1.2, 0, 20 * 0.9375))  # coronal: x by z
    assert [a.get_title() for a in fig2.axes][0] == "sagittal (axis 0 = 3)"
    plt.close("all")


def test_save_figure(tmp_path):
    fig, _ = plt.subplots()
    path = save_figure(fig, tmp_path / "figs", "histogram")
    assert path == tmp_path / "figs" / "histogram.png" and path.stat().st_size > 1000
    assert save_figure(fig, "", "ignored") is None
    plt.close(fig)


def test_slice_browser_follows_its_controls(ras_volume):
    data, _, zooms = ras_volume
    browser = SliceBrowser({"a": data, "b": 2 * data}, zooms)
    assert browser.index.value == 6 and browser.index.max == 11
    np.testing.assert_array_equal(browser.current_slices()["a"], slice_view(data, 0, 6))
    browser.axis.value = 2  # axial: the slider now spans axis 2 and restarts in the middle
    assert browser.index.max == 19 and browser.index.value == 10
    browser.index.value = 19
    shown = browser.current_slices()
    np.testing.assert_array_equal(shown["a"], slice_view(data, 2, 19))
    np.testing.assert_array_equal(shown["b"], 2 * slice_view(data, 2, 19))


def test_slice_browser_refuses_mismatched_volumes(ras_volume):
    data, _, zooms = ras_volume
    with pytest.raises(ValueError, match="one shape"):
        SliceBrowser({"a": data, "b": data[:5]}, zooms)


def test_show_mask_overlays_the_same_slice_in_mm(ras_volume):
    data, _, zooms = ras_volume
    mask = np.zeros(data.shape, bool)
    mask[4, 3:7, 10:15] = True
    fig, ax = plt.subplots()
    show_slice(ax, data, zooms, axis=0, index=4)
    show_mask(ax, mask, zooms, axis=0, index=4, outline=True)
    base, overlay = ax.get_images()
    assert overlay.get_extent() == base.get_extent()
    shown = overlay.get_array()
    np.testing.assert_array_equal(~np.ma.getmaskarray(shown), slice_view(mask, 0, 4))
    assert len(ax.collections) == 1  # the outline
    plt.close(fig)


def test_loss_plot_and_monitor_show_the_running_means():
    from refacing_lib.viz.plotting import plot_losses
    from refacing_lib.viz.widgets import LossMonitor

    steps = np.arange(1, 101)
    history = {"step": steps, "g_AB": np.ones(100), "g_BA": 2 * np.ones(100),
               "cycle": np.linspace(1, 0, 100), "d_A": np.zeros(100), "d_B": np.full(100, 0.5)}
    fig = plot_losses(history, window=10)
    left, right = fig.axes
    cycle = next(line for line in left.lines if line.get_label() == "cycle")
    np.testing.assert_allclose(cycle.get_ydata(), np.convolve(history["cycle"], np.ones(10) / 10,
                                                              mode="valid"))
    assert (cycle.get_xdata()[0] == 10
            and [line.get_label() for line in right.lines] == ["d_A", "d_B"])
    plt.close(fig)

    monitor = LossMonitor(every=40)
    for i, step in enumerate(steps):
        monitor(int(step), {k: float(history[k][i])
                            for k in ("g_AB", "g_BA", "cycle", "d_A", "d_B")})
    assert monitor.history["step"] == list(range(1, 101))
    drawn = next(line for line in monitor.axes[0].lines if line.get_label() == "cycle")
    assert drawn.get_xdata()[-1] == 80          # last redraw at step 80
    monitor.draw()
    drawn = next(line for line in monitor.axes[0].lines if line.get_label() == "cycle")
    assert drawn.get_xdata()[-1] == 100


def test_the_weighted_terms_add_up_to_the_generators_objective():
    from refacing_lib.model.cyclegan import TrainConfig
    from refacing_lib.viz.plotting import plot_weighted_terms, weighted_terms

    rng = np.random.default_rng(0)
    history = {name: rng.uniform(0.01, 1, 60) for name in
               ("g_AB", "g_BA", "cycle", "identity", "supervised")}
    history["step"] = np.arange(1, 61)
    config = TrainConfig(supervised_weight=1000.0, identity_weight=0.0)
    terms = weighted_terms(history, config)
    assert list(terms) == ["g_AB", "g_BA", "10 x cycle", "1000 x supervised"]
    g_total = (history["g_AB"] + history["g_BA"] + 10 * history["cycle"]
               + 1000 * history["supervised"])
    np.testing.assert_allclose(sum(terms.values()), g_total)
    fig = plot_weighted_terms(history, config, window=20)
    (ax,) = fig.axes
    line = next(line for line in ax.lines if line.get_label() == "1000 x supervised")
    np.testing.assert_allclose(line.get_ydata(), np.convolve(1000 * history["supervised"],
                                                             np.ones(20) / 20, mode="valid"))
    assert ax.get_yscale() == "log"
    plt.close(fig)


def test_site_scores_show_images_and_site_means():
    import pandas as pd

    from refacing_lib.viz.plotting import plot_site_scores

    table = pd.DataFrame({"site": ["Guys"] * 3 + ["HH"] * 2 + ["IOP"],
                          "refaced": [0.5, 0.7, 0.9, 0.2, 0.4, 0.6]})
    ax = plot_site_scores(table, {"refaced": "refaced"}, ylabel="SSIM")
    dots = ax.lines[0]
    np.testing.assert_allclose(dots.get_ydata(), table["refaced"])
    means = [seg[0][1] for coll in ax.collections for seg in coll.get_segments()]
    np.testing.assert_allclose(means, [0.7, 0.3, 0.6])
    separators = [line.get_xdata()[0] for line in ax.lines[1:]]
    assert separators == [2.5, 4.5]
    assert [t.get_text() for t in ax.texts] == ["Guys", "HH", "IOP"]
    plt.close(ax.figure)


def _ball_head(shape=(40, 48, 44), zooms=(1.2, 0.9375, 0.9375), nose=True):
    """A bright ellipsoid 'head' with, optionally, a 'nose' bump on its anterior side."""
    from refacing_lib.data.io import Volume

    i, j, k = np.indices(shape, dtype=float)
    c = (np.array(shape) - 1) / 2
    head = (((i - c[0]) / 14) ** 2 + ((j - c[1]) / 18) ** 2 + ((k - c[2]) / 17) ** 2) < 1
    if nose:
        head |= (np.abs(i - c[0]) < 3) & (j > c[1] + 15) & (j < c[1] + 22) & (np.abs(k - c[2]) < 4)
    data = np.where(head, 500.0, 5.0).astype(np.float32)
    return Volume(data=data, affine=np.diag(list(zooms) + [1.0]), zooms=zooms)


def test_skin_mesh_follows_the_head_in_mm():
    from refacing_lib.viz.surfaces import skin_mesh

    head = _ball_head()
    triangles, shade, span = skin_mesh(head.data, head.zooms, level=250, step=1)
    assert triangles.shape[1:] == (3, 3) and len(shade) == len(triangles) > 100
    assert np.all((shade >= 0.15) & (shade <= 1))
    assert np.allclose(span, np.array(head.shape) * head.zooms)
    front = triangles[..., 1].max()                      # the nose tip, along y (anterior), mm
    without = skin_mesh(_ball_head(nose=False).data, head.zooms, level=250, step=1)[0]
    assert front > without[..., 1].max() + 3 * head.zooms[1]   # the nose sticks out


def test_head_viewer_turns_every_head_together():
    from refacing_lib.viz.widgets import HeadViewer

    original, noseless = _ball_head(), _ball_head(nose=False)
    viewer = HeadViewer({"original": original, "anonymized": noseless}, level=250, step=2)
    assert set(viewer.meshes) == {"original", "anonymized"}
    axes = viewer.figure.axes
    assert len(axes) == 2 and all(ax.azim == 60 and ax.elev == 10 for ax in axes)
    viewer.azimuth.value = -30
    viewer.elevation.value = 25
    assert all(ax.azim == -30 and ax.elev == 25 for ax in viewer.figure.axes)
    span = np.array(original.shape) * original.zooms       # every redraw keeps the mm extent
    assert all(np.allclose(ax.get_xlim3d(), (0, span[0])) for ax in viewer.figure.axes)
    assert np.allclose(viewer.meshes["original"][2], span)
    with pytest.raises(ValueError, match="one shape"):
        HeadViewer({"a": original.data, "b": original.data[:-1]}, zooms=original.zooms)


def test_anat_views_draws_nilearn_cuts_in_scanner_mm():
    from refacing_lib.viz.plotting import anat_views

    head = _ball_head()
    fig = anat_views({"original": head, "noseless": _ball_head(nose=False)})
    def cuts(figure):                           # nilearn's cut axes (not its background)
        return [ax for ax in figure.axes if ax.images and ax.get_position().width < 0.5]

    assert len(cuts(fig)) == 6                     # ortho: 3 cuts per row, 2 rows
    fig_x = anat_views({"original": head}, display_mode="x", cut_coords=[10.0, 20.0, 30.0])
    assert len(cuts(fig_x)) == 3
    texts = [t.get_text() for ax in fig_x.axes for t in ax.texts]
    assert any("x=20" in t for t in texts)        # the cut positions, in mm
    plt.close("all")
