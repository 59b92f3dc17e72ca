"""Magnitude + IF representation: exact round trip on synthetic signals, bounded IF channel."""
import math

import pytest
import torch

from distill_engine import LossConfig, Representation, create_stft_loss
from distill_engine.audio.representation import SILENT_LOG_MAG

SR = 16000


def snr_db(reference, estimate):
    return float(10 * torch.log10(reference.pow(2).sum() / (reference - estimate).pow(2).sum()))


def synthetic_signals(n=24000):
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(n) / SR
    pluck = torch.sin(2 * math.pi * 220 * t) * torch.exp(-4 * t) + 0.3 * torch.sin(2 * math.pi * 663 * t) * torch.exp(-6 * t)
    chirp = 0.5 * torch.sin(2 * math.pi * (100 * t + 2000 * t**2))
    noise = 0.3 * torch.randn(n, generator=gen) * torch.exp(-8 * t)
    bell = sum(torch.sin(2 * math.pi * f * t + p) * torch.exp(-d * t) for f, p, d in [(523, 0.3, 2), (1410, 1.1, 3), (2633, 2.0, 5)]) / 3
    clicks = torch.zeros(n)
    clicks[::4000] = 0.9
    return torch.stack([pluck, chirp, noise, bell, clicks])


@pytest.mark.parametrize("n_fft,hop", [(1024, 256), (512, 128), (2048, 512)])
def test_encode_decode_round_trip_meets_snr_and_mrstft_targets(n_fft, hop):
    audio = synthetic_signals()
    rep = Representation(SR, n_fft, hop)
    decoded = rep.decode(rep.encode(audio), audio.shape[-1])
    for original, restored in zip(audio, decoded):
        assert snr_db(original, restored) >= 30.0
    distance = float(create_stft_loss(LossConfig())(decoded, audio))
    assert distance <= 0.01


def test_shapes_and_channel_ranges():
    audio = synthetic_signals()
    rep = Representation(SR, 1024, 256)
    encoded = rep.encode(audio)
    assert encoded.shape == (5, 2, 513, 1 + 24000 // 256)
    assert float(encoded[:, 1].abs().max()) <= 1.0
    assert torch.isfinite(encoded).all()


def test_first_frame_keeps_true_phase():
    audio = synthetic_signals()[:1]
    rep = Representation(SR, 1024, 256)
    spec = torch.stft(audio.double(), 1024, 256, window=torch.hann_window(1024, dtype=torch.float64), return_complex=True)
    encoded = rep.encode(audio)
    audible = spec[0, :, 0].abs() > 1e-3
    assert audible.sum() > 10
    assert torch.allclose(encoded[0, 1, :, 0][audible].double() * math.pi, torch.angle(spec[0, :, 0])[audible], atol=1e-5)


def test_silence_round_trips_to_silence():
    rep = Representation(SR, 1024, 256)
    silent = torch.zeros(2, 8000)
    decoded = rep.decode(rep.encode(silent), 8000)
    assert float(decoded.abs().max()) < 1e-5


def test_normalisation_statistics_fit_and_survive_state_dict():
    audio = synthetic_signals()
    rep = Representation(SR, 1024, 256)
    raw = rep.encode_raw(audio)
    rep.fit(raw)
    heard = raw[:, 0] > SILENT_LOG_MAG  # the statistics are those of the bins that are not digital silence
    normalised = rep.encode(audio)[:, 0][heard]
    assert abs(float(normalised.mean())) < 1e-3
    assert abs(float(normalised.std()) - 1.0) < 1e-2
    clone = Representation.from_state_dict(rep.state_dict())
    assert torch.equal(clone.encode(audio), rep.encode(audio))
    assert snr_db(audio[0], clone.decode(clone.encode(audio), 24000)[0]) >= 30.0


def test_padding_with_digital_silence_leaves_the_statistics_alone():
    """One-shots shorter than their chunk are padded with zeros; those bins must not drag the mean
    towards silence, or a young model's output (about 0) decodes as near-silence."""
    audio = synthetic_signals(8000)
    padded = torch.nn.functional.pad(audio, (0, 40000))  # 0.5 s of sound in a 3 s chunk
    alone, with_padding = Representation(SR, 1024, 256), Representation(SR, 1024, 256)
    alone.fit(alone.encode_raw(audio))
    raw = with_padding.encode_raw(padded)
    with_padding.fit(raw)
    all_bins = raw[:, 0].double()
    assert float(all_bins.mean()) < alone.log_mag_mean - 3.0  # what counting the padding in would give
    assert abs(with_padding.log_mag_mean - alone.log_mag_mean) < 0.3
    assert abs(with_padding.log_mag_std - alone.log_mag_std) < 0.3
    # a log-magnitude channel of 0 (where a young model starts) decodes far louder than it would
    counted_in = Representation(SR, 1024, 256, float(all_bins.mean()), float(all_bins.std()))
    zero = torch.zeros(1, 2, raw.shape[2], raw.shape[3])

    def level_db(rep):
        return 20 * math.log10(float(rep.decode(zero, 48000).square().mean().sqrt()))
    assert level_db(with_padding) > level_db(counted_in) + 20.0


def test_fit_of_digital_silence_alone_falls_back_to_every_bin():
    rep = Representation(SR, 1024, 256)
    raw = rep.encode_raw(torch.zeros(2, 8000))
    rep.fit(raw)
    assert math.isfinite(rep.log_mag_mean) and rep.log_mag_std >= 1e-3
    assert abs(rep.log_mag_mean - float(raw[:, 0].double().mean())) < 1e-9


def test_long_recording_keeps_its_phase_precision():
    gen = torch.Generator().manual_seed(3)
    n = SR * 120  # two minutes: ~7500 frames of phase to accumulate
    t = torch.arange(n, dtype=torch.float64) / SR
    audio = (0.4 * torch.sin(2 * math.pi * 3_517.3 * t) + 0.02 * torch.randn(n, generator=gen, dtype=torch.float64))
    audio = audio.float().unsqueeze(0)
    rep = Representation(SR, 1024, 256)
    assert snr_db(audio[0], rep.decode(rep.encode(audio), n)[0]) >= 30.0


def test_float64_and_unbatched_audio_round_trip():
    audio = synthetic_signals()[0].double()
    rep = Representation(SR, 512, 128)
    encoded = rep.encode(audio)
    assert encoded.shape == (2, 257, 1 + audio.shape[0] // 128) and encoded.dtype == torch.float64
    assert snr_db(audio, rep.decode(encoded, audio.shape[0])) >= 30.0


@pytest.mark.parametrize("n_fft,hop,length", [(1024, 256, 24000), (512, 128, 8000), (256, 64, 4001), (1000, 300, 9000)])
def test_inverse_stft_equals_torch_istft(n_fft, hop, length):
    rep = Representation(SR, n_fft, hop)
    gen = torch.Generator().manual_seed(5)
    frames = 1 + length // hop
    spec = torch.complex(torch.randn(2, n_fft // 2 + 1, frames, generator=gen), torch.randn(2, n_fft // 2 + 1, frames, generator=gen))
    expected = torch.istft(spec, n_fft, hop, window=torch.hann_window(n_fft), center=True, length=length)
    assert torch.allclose(rep._inverse_stft(spec, length), expected, atol=1e-6)


def _real_recordings(sample_rate: int) -> torch.Tensor:
    """CPython's pluck recordings (not made by this project), resampled, as one padded batch."""
    import glob

    import numpy as np
    import soundfile as sf
    import soxr

    clips = []
    for path in sorted(glob.glob("/root/.pyenv/versions/*/lib/python3.*/test/audiodata/pluck-pcm*.wav"))[:4]:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        clips.append(soxr.resample(audio.mean(axis=1), rate, sample_rate).astype(np.float32))
    if not clips:
        pytest.skip("CPython's test audio is not installed here")
    length = max(len(c) for c in clips)
    return torch.stack([torch.from_numpy(np.pad(c, (0, length - len(c)))) for c in clips])


@pytest.mark.parametrize("sample_rate,n_fft,hop", [(16000, 1024, 256), (44100, 2048, 512)])
def test_the_training_loss_decode_matches_the_precise_decode_on_real_recordings(sample_rate, n_fft, hop):
    audio = _real_recordings(sample_rate)
    rep = Representation(sample_rate, n_fft, hop)
    encoded = rep.encode(audio)
    precise = rep.decode(encoded, audio.shape[-1])
    fast = rep.decode(encoded, audio.shape[-1], precise=False)
    assert snr_db(precise, fast) > 90
    assert snr_db(audio, fast) > 30
    encoded.requires_grad_(True)
    rep.decode(encoded, audio.shape[-1], precise=False).square().sum().backward()
    assert torch.isfinite(encoded.grad).all() and encoded.grad[:, 1].abs().sum() > 0


def test_normalising_in_place_gives_the_same_values_without_a_copy():
    torch.manual_seed(0)
    rep = Representation(16000, 1024, 256, log_mag_mean=-3.0, log_mag_std=5.0)
    raw = torch.randn(3, 2, 513, 20)
    expected = rep.normalise(raw)
    assert torch.equal(raw[:, 1], expected[:, 1]) and not torch.equal(raw[:, 0], expected[:, 0])
    same = rep.normalise_(raw)
    assert same is raw and torch.equal(raw, expected)
    one = torch.randn(2, 513, 20)
    assert torch.equal(rep.normalise(one), rep.normalise_(one.clone()))
