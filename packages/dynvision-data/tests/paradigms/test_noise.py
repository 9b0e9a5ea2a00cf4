from __future__ import annotations

import pytest
import torch

from dynvision_data import NOISE_TYPES, TEMPORAL_MODES, NoiseParadigm, create_paradigm

B, C, H, W = 32, 3, 16, 16


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(4)
    # smooth-ish images with different powers per image
    images = torch.randn(B, C, H, W, generator=generator).cumsum(-1) / 3
    images = images * torch.linspace(0.5, 2.0, B).view(-1, 1, 1, 1)
    return images, torch.randint(0, 10, (B,), generator=generator)


def _noise(
    frames: torch.Tensor, images: torch.Tensor, stimulus: torch.Tensor, blank: float = 0.0
) -> torch.Tensor:
    base = torch.where(stimulus.view(1, -1, 1, 1, 1), images.unsqueeze(1), blank)
    return frames - base


def _measured_ssnr(noise: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    signal = images.flatten(1).var(dim=1, unbiased=False)
    power = noise.flatten(2).pow(2).mean(dim=2).mean(dim=1)  # per image, averaged over steps
    return signal / (signal + power)


@pytest.mark.parametrize("noise_type", NOISE_TYPES)
@pytest.mark.parametrize("ssnr", [0.2, 0.5, 0.8])
def test_measured_snr_matches_ssnr(
    batch: tuple[torch.Tensor, torch.Tensor], noise_type: str, ssnr: float
) -> None:
    images, labels = batch
    paradigm = create_paradigm("noise", stimulus=8, noise_type=noise_type, ssnr=ssnr, temporal_mode="dynamic")
    frames, step_labels, stimulus = paradigm(images, labels)
    assert frames.shape == (B, 8, C, H, W) and frames.dtype == images.dtype
    assert torch.equal(step_labels, labels.view(-1, 1).expand(B, 8))
    measured = _measured_ssnr(_noise(frames, images, stimulus), images)
    assert abs(measured.mean().item() - ssnr) < 0.02  # over the batch
    assert (measured - ssnr).abs().max().item() < 0.08  # and per image: power is set per image


def test_ssnr_1_is_no_noise_and_ssnr_0_is_noise_at_the_image_power(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    images, labels = batch
    frames, _, _ = create_paradigm("noise", intro=1, stimulus=2, outro=1, ssnr=1.0)(images, labels)
    assert torch.equal(frames[:, 1], images) and frames[:, 0].eq(0.0).all()
    frames, _, _ = create_paradigm("noise", stimulus=4, ssnr=0.0, temporal_mode="dynamic")(images, labels)
    power = frames.flatten(2).pow(2).mean(dim=2).mean(dim=1)
    torch.testing.assert_close(power, images.flatten(1).var(dim=1, unbiased=False), rtol=0.1, atol=0.0)


def test_noise_on_blank_steps_is_as_strong_as_on_the_stimulus(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    images, labels = batch
    paradigm = create_paradigm(
        "noise", intro=3, stimulus=3, outro=3, ssnr=0.5, temporal_mode="dynamic", blank=0.2
    )
    frames, _, stimulus = paradigm(images, labels)
    noise = _noise(frames, images, stimulus, blank=0.2)
    on_power, off_power = noise[:, stimulus].pow(2).mean(), noise[:, ~stimulus].pow(2).mean()
    assert off_power > 0.5  # upstream measured the blank's (zero) variance and added no noise here
    torch.testing.assert_close(off_power, on_power, rtol=0.05, atol=0.0)
    quiet, _, stimulus = create_paradigm(
        "noise", intro=3, stimulus=3, outro=3, ssnr=0.5, noise_void=False, blank=0.2
    )(images, labels)
    assert quiet[:, ~stimulus].eq(0.2).all() and not torch.equal(quiet[:, 3], images)


@pytest.mark.parametrize("noise_type", NOISE_TYPES)
def test_temporal_modes(batch: tuple[torch.Tensor, torch.Tensor], noise_type: str) -> None:
    images, labels = batch
    common = {"stimulus": 12, "noise_type": noise_type, "ssnr": 0.4}
    static = create_paradigm("noise", temporal_mode="static", **common)(images, labels)
    assert all(torch.equal(static.frames[:, t], static.frames[:, 0]) for t in range(12))
    dynamic = create_paradigm("noise", temporal_mode="dynamic", **common)(images, labels)
    noise = _zero_mean_noise(dynamic.frames, images, dynamic.stimulus, noise_type)
    assert not torch.equal(noise[:, 0], noise[:, 1])
    assert abs(_lag1(noise)) < 0.03
    for tempcorr in (0.3, 0.8):
        correlated = create_paradigm("noise", temporal_mode="correlated", tempcorr=tempcorr, **common)(
            images, labels
        )
        noise = _zero_mean_noise(correlated.frames, images, correlated.stimulus, noise_type)
        assert abs(_lag1(noise) - tempcorr) < 0.03, noise_type
        # stationary: the power does not drift over time
        early, late = noise[:, :3].pow(2).mean(), noise[:, -3:].pow(2).mean()
        torch.testing.assert_close(early, late, rtol=0.15, atol=0.0)


def _zero_mean_noise(
    frames: torch.Tensor, images: torch.Tensor, stimulus: torch.Tensor, kind: str
) -> torch.Tensor:
    """The noise process, zero-mean at every pixel (salt and pepper: +1 salt, -1 pepper, 0 unchanged)."""
    noise = _noise(frames, images, stimulus)
    if kind != "saltpepper":
        return noise
    high = images.amax(dim=(-2, -1), keepdim=True).unsqueeze(1)
    changed = noise != 0
    return torch.where(changed, torch.where(frames == high, 1.0, -1.0), 0.0)


def _lag1(noise: torch.Tensor) -> float:
    """Correlation of zero-mean noise between consecutive steps."""
    a, b = noise[:, :-1].flatten(), noise[:, 1:].flatten()
    return (a @ b / (a.norm() * b.norm())).item()


def test_spatial_correlation_raises_neighbour_correlation_at_the_same_power(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    images, labels = batch
    correlations, powers = [], []
    for width in (0.0, 1.0, 2.5):
        paradigm = create_paradigm("noise", stimulus=4, ssnr=0.5, spatialcorr=width, temporal_mode="dynamic")
        frames, _, stimulus = paradigm(images, labels)
        noise = _noise(frames, images, stimulus)
        a, b = noise[..., :-1].flatten(), noise[..., 1:].flatten()
        correlations.append((a @ b / (a.norm() * b.norm())).item())
        powers.append(noise.pow(2).mean().item())
    assert abs(correlations[0]) < 0.05 and correlations[0] < correlations[1] < correlations[2]
    assert correlations[2] > 0.8
    for power in powers[1:]:
        assert abs(power / powers[0] - 1) < 0.05  # renormalised to the target power


def test_poisson_noise_is_non_negative_and_grows_with_intensity(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    images, labels = batch
    frames, _, stimulus = create_paradigm(
        "noise", stimulus=16, noise_type="poisson", ssnr=0.5, temporal_mode="dynamic"
    )(images, labels)
    low = images.amin(dim=(1, 2, 3)).view(-1, 1, 1, 1, 1)
    assert (frames >= low - 1e-5).all()  # counts are >= 0: never darker than the darkest image pixel
    noise = _noise(frames, images, stimulus)
    variance = noise.var(dim=1)  # per pixel over 16 fresh draws
    intensity = images - images.amin(dim=(1, 2, 3), keepdim=True)
    bright = intensity > intensity.flatten(1).median(dim=1).values.view(-1, 1, 1, 1)
    assert variance[bright].mean() > 1.5 * variance[~bright].mean()


def test_salt_and_pepper_sets_a_fraction_of_pixels_to_the_extremes(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    images, labels = batch
    paradigm = create_paradigm(
        "noise", stimulus=8, noise_type="saltpepper", ssnr=0.7, temporal_mode="dynamic"
    )
    frames, _, _ = paradigm(images, labels)
    high = images.amax(dim=(-2, -1), keepdim=True).unsqueeze(1)
    low = images.amin(dim=(-2, -1), keepdim=True).unsqueeze(1)
    changed = (frames != images.unsqueeze(1)).any(dim=2)  # pixel positions (all channels together)
    salt, pepper = (frames == high).all(dim=2) & changed, (frames == low).all(dim=2) & changed
    assert torch.equal(changed, salt | pepper)
    # expected fraction from the power target: p = P_n / mean(((hi - x)^2 + (lo - x)^2) / 2)
    signal = images.flatten(1).var(dim=1, unbiased=False)
    spread = (((high[:, 0] - images) ** 2 + (low[:, 0] - images) ** 2) / 2).mean(dim=(1, 2, 3))
    expected = (signal * (0.3 / 0.7) / spread).mean().item()
    assert abs(changed.float().mean().item() - expected) < 0.01
    assert abs(salt.float().mean().item() - pepper.float().mean().item()) < 0.01


def test_phase_scrambled_noise_keeps_the_image_amplitude_spectrum(
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    images, labels = batch
    frames, _, stimulus = create_paradigm(
        "noise", stimulus=2, noise_type="phasescrambled", ssnr=0.5, temporal_mode="dynamic"
    )(images, labels)
    noise = _noise(frames, images, stimulus)[:, 0]
    spectrum = torch.fft.rfft2(noise).abs()
    reference = torch.fft.rfft2(images - images.mean(dim=(-2, -1), keepdim=True)).abs()
    # same spectrum up to one scale factor per image (the noise power)
    scale = spectrum.flatten(1).norm(dim=1) / reference.flatten(1).norm(dim=1)
    torch.testing.assert_close(spectrum, reference * scale.view(-1, 1, 1, 1), rtol=1e-3, atol=1e-3)
    assert not torch.allclose(noise, images - images.mean(dim=(-2, -1), keepdim=True))  # the phase is new


def test_phase_scrambled_one_over_f_spectrum(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    frames, _, stimulus = create_paradigm("noise", stimulus=1, noise_type="phasescrambled", alpha=1.0)(
        images, labels
    )
    spectrum = torch.fft.rfft2(_noise(frames, images, stimulus)[:, 0]).abs()
    # frequencies (0, 2) and (0, 4): amplitude halves when the frequency doubles
    torch.testing.assert_close(
        spectrum[..., 0, 4] / spectrum[..., 0, 2], torch.full((B, C), 0.5), rtol=1e-3, atol=1e-4
    )


def test_seeded_noise_is_reproducible_per_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    params = {"stimulus": 3, "temporal_mode": "dynamic", "noise_seed": 7}
    first, second = create_paradigm("noise", **params), create_paradigm("noise", **params)
    a0, a1 = first(images, labels).frames, first(images, labels).frames
    b0, b1 = second(images, labels).frames, second(images, labels).frames
    assert torch.equal(a0, b0) and torch.equal(a1, b1)  # run to run: batch k gets the same noise
    assert not torch.equal(a0, a1)  # batch to batch: different noise
    first.reset()
    assert torch.equal(first(images, labels).frames, a0)
    assert torch.equal(second(images, labels, batch_index=1).frames, a1)
    other = create_paradigm("noise", **{**params, "noise_seed": 8})(images, labels).frames
    assert not torch.equal(other, a0)
    unseeded = create_paradigm("noise", **{**params, "noise_seed": None})
    assert not torch.equal(
        unseeded(images, labels, batch_index=0).frames, unseeded(images, labels, batch_index=0).frames
    )


def test_half_precision_and_params(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    frames, _, _ = create_paradigm("noise", stimulus=2, noise_type="uniform")(images.half(), labels)
    assert frames.dtype == torch.float16 and torch.isfinite(frames).all()
    paradigm = NoiseParadigm(
        intro=1, stimulus=3, outro=1, ssnr=0.25, temporal_mode="correlated", tempcorr=0.9
    )
    assert create_paradigm("noise", **paradigm.config()).params() == paradigm.params()
    assert paradigm.durations_ms(10) == {"intro": 10.0, "stimulus": 30.0, "outro": 10.0}


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"ssnr": 1.5}, ValueError, r"ssnr must be in \[0, 1\] .*got 1.5"),
        ({"ssnr": -0.1}, ValueError, r"ssnr must be in \[0, 1\].*got -0.1"),
        ({"ssnr": "loud"}, TypeError, "ssnr must be a number"),
        (
            {"noise_type": "pink"},
            ValueError,
            "Unknown noise_type 'pink'.*Available: " + ", ".join(sorted(NOISE_TYPES)),
        ),
        ({"noise_type": "gausian"}, ValueError, "Did you mean 'gaussian'"),
        (
            {"temporal_mode": "frozen"},
            ValueError,
            "Unknown temporal_mode 'frozen'.*" + ", ".join(sorted(TEMPORAL_MODES)),
        ),
        ({"tempcorr": 1.0}, ValueError, "tempcorr must be strictly between 0 and 1, got 1.0"),
        ({"spatialcorr": -1}, ValueError, "spatialcorr must be >= 0"),
        (
            {"spatialcorr": 2, "noise_type": "uniform"},
            ValueError,
            "spatialcorr=2.0 applies to gaussian noise only",
        ),
        ({"alpha": 1.0}, ValueError, "alpha=1.0 applies to phasescrambled noise only"),
        ({"stimulus": -2}, ValueError, "stimulus must be >= 1, got -2"),
        ({"noise_seed": -1}, ValueError, "noise_seed must be >= 0, got -1"),
        ({"noise_void": "yes"}, TypeError, "noise_void must be True or False"),
    ],
)
def test_bad_noise_parameters_are_named(params: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        create_paradigm("noise", **params)
