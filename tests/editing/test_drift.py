"""The drift metric on image pairs whose SSIM/PSNR are known in closed form."""
from __future__ import annotations

import math

import numpy as np
import pytest

from studio.editing import drift
from tests.editing.conftest import picture


def _arr(img):
    return drift.to_array(img)


def test_identical_images_have_ssim_one_and_infinite_psnr():
    a = _arr(picture())
    d = drift.measure_drift(a, a.copy(), np.zeros(a.shape[:2], bool))
    assert d.ssim == pytest.approx(1.0, abs=1e-6)
    assert d.psnr is None and d.outside_fraction == 1.0
    assert "∞" in drift.format_drift(d.as_dict())


def test_constant_offset_matches_the_closed_forms():
    # flat grey 100 vs 110: PSNR = 20·log10(255/10); SSIM = luminance term only (no variance)
    a = np.full((32, 32, 3), 100.0, np.float32)
    b = np.full((32, 32, 3), 110.0, np.float32)
    c1 = (0.01 * 255) ** 2
    expected_ssim = (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1)
    assert drift.masked_psnr(a, b) == pytest.approx(20 * math.log10(255 / 10), abs=1e-4)
    assert drift.masked_ssim(a, b) == pytest.approx(expected_ssim, abs=1e-5)


def test_inverted_structure_has_negative_ssim():
    # a checkerboard (mean 128, sigma 72) against its negative: SSIM = (C2 - 2σ²)/(2σ² + C2)
    yy, xx = np.mgrid[0:40, 0:40]
    board = np.where((yy + xx) % 2 == 0, 200.0, 56.0).astype(np.float32)
    a = np.repeat(board[..., None], 3, axis=2)
    b = 256.0 - a
    c2 = (0.03 * 255) ** 2
    assert drift.masked_ssim(a, b) == pytest.approx((c2 - 2 * 72**2) / (2 * 72**2 + c2), abs=1e-3)


def test_changes_inside_the_edited_region_do_not_count():
    a = _arr(picture(64, 64))
    b = a.copy()
    b[10:30, 10:30] = 0.0  # a deliberate edit
    edited = np.zeros((64, 64), bool)
    edited[10:30, 10:30] = True
    d = drift.measure_drift(a, b, edited)
    assert d.psnr is None and d.ssim == pytest.approx(1.0, abs=1e-6)
    assert d.outside_fraction == pytest.approx(1 - 400 / 4096)


def test_noise_outside_the_edit_is_drift_and_grows_with_its_strength():
    rng = np.random.default_rng(0)
    a = _arr(picture(64, 64))
    noise = rng.normal(0, 1, a.shape).astype(np.float32)
    edited = np.zeros((64, 64), bool)
    light = drift.measure_drift(a, np.clip(a + 2 * noise, 0, 255), edited)
    heavy = drift.measure_drift(a, np.clip(a + 20 * noise, 0, 255), edited)
    assert light.psnr == pytest.approx(20 * math.log10(255 / 2), abs=0.3)  # MSE ≈ σ² = 4
    assert heavy.psnr < light.psnr and heavy.ssim < light.ssim < 1.0


def test_changed_region_finds_a_painted_box_and_ignores_faint_changes():
    a = _arr(picture(64, 64))
    b = a.copy()
    b[20:30, 40:50] = [255, 0, 0]
    b += 3.0  # faint global shift: not an edit, but drift
    region = drift.changed_region(a, b)
    ys, xs = np.nonzero(region)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (20 - 4, 29 + 4, 40 - 4, 49 + 4)
    d = drift.measure_drift(a, b, region)
    assert d.psnr == pytest.approx(20 * math.log10(255 / 3), abs=0.2)


def test_everything_edited_leaves_nothing_to_compare():
    a = _arr(picture(16, 16))
    d = drift.measure_drift(a, a, np.ones((16, 16), bool))
    assert d.ssim is None and d.psnr is None and d.outside_fraction == 0.0
    assert drift.format_drift(d.as_dict()).startswith("drift: n/a")


def test_incremental_maps_equal_a_full_computation_over_a_chain_of_edits():
    # each "turn" repaints a box of its input; the maps updated in place of the box must be the
    # very values a full computation gives, and the figures those of measure_drift
    rng = np.random.default_rng(3)
    source = _arr(picture(96, 80))
    current, maps = source, drift.DriftMaps.identity(source)
    edited = np.zeros(source.shape[:2], bool)
    for box in [(10, 30, 5, 25), (0, 12, 60, 96), (50, 80, 0, 96), (40, 41, 40, 41)]:
        nxt = current.copy()
        r0, r1, c0, c1 = box
        nxt[r0:r1, c0:c1] = rng.integers(0, 256, (r1 - r0, c1 - c0, 3)).astype(np.float32)
        nxt += rng.normal(0, 0.5, nxt.shape).astype(np.float32) * (rng.random(nxt.shape[:2]) < 0.01)[..., None]
        maps = drift.drift_maps(source, nxt, maps, current)
        full = drift.drift_maps(source, nxt)
        assert np.array_equal(maps.ssim, full.ssim) and np.allclose(maps.sq_err, full.sq_err)
        edited |= drift.changed_region(current, nxt)
        got, want = drift.drift_from_maps(maps, source, nxt, edited), drift.measure_drift(source, nxt, edited)
        assert got.outside_fraction == want.outside_fraction
        assert (got.ssim is None) == (want.ssim is None) and (got.psnr is None) == (want.psnr is None)
        if want.ssim is not None:
            assert got.ssim == pytest.approx(want.ssim, abs=1e-6)
        if want.psnr is not None:
            assert got.psnr == pytest.approx(want.psnr, abs=1e-4)
        current = nxt


def test_an_unchanged_output_keeps_its_input_maps():
    source = _arr(picture(32, 32))
    maps = drift.drift_maps(source, source + 1.0)
    assert drift.drift_maps(source, source + 1.0, maps, source + 1.0) is maps
