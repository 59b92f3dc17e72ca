"""The combined loss: MR-STFT equal to auraloss (the oracle) per example, finite on silence, weights
applied, and a batch's loss the mean of its examples' (what data-parallel training relies on)."""
import math

import auraloss
import pytest
import torch

from distill_engine import (
    KLLossConfig,
    LevelLossConfig,
    LossConfig,
    ReconLossConfig,
    Representation,
    STFTLossConfig,
    compute_combined_loss,
    create_stft_loss,
    kl_weight_at,
)
from distill_engine.model.losses import LEVEL_FLOOR_MAX, LEVEL_FLOOR_RELATIVE, level_distance, level_floor, term_weights

RESOLUTION_SETS = [
    ((512, 1024, 2048), (128, 256, 512), (512, 1024, 2048)),
    ((1024, 2048, 512), (120, 240, 50), (600, 1200, 240)),
    ((256,), (64,), (200,)),
    ((128, 4096), (32, 1024), (128, 3000)),
]


def per_example_auraloss(fft, hop, win, pred, target):
    """auraloss's MR-STFT of each example alone, averaged over the batch (our loss's definition)."""
    oracle = auraloss.freq.MultiResolutionSTFTLoss(list(fft), list(hop), list(win))
    return torch.stack([oracle(p[None, None], t[None, None]) for p, t in zip(pred, target)]).mean()


def audio_pair(batch=3, samples=16000, seed=0):
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / 16000
    target = torch.sin(2 * math.pi * 330 * t) * torch.exp(-3 * t) + 0.05 * torch.randn(batch, samples, generator=gen)
    pred = target + 0.2 * torch.randn(batch, samples, generator=gen)
    return pred, target


@pytest.mark.parametrize("fft,hop,win", RESOLUTION_SETS)
def test_stft_loss_equals_auraloss(fft, hop, win):
    pred, target = audio_pair()
    config = LossConfig(stft=STFTLossConfig(fft_sizes=fft, hop_sizes=hop, win_lengths=win))
    ours = create_stft_loss(config, "cpu")(pred, target)
    oracle = per_example_auraloss(fft, hop, win, pred, target)
    assert ours.dim() == 0
    assert abs(float(ours) - float(oracle)) <= 1e-4 * abs(float(oracle))


def test_stft_loss_gradient_equals_auraloss():
    pred, target = audio_pair(batch=2, samples=8000)
    ours_in = pred.clone().requires_grad_(True)
    theirs_in = pred.clone().requires_grad_(True)
    create_stft_loss(LossConfig())(ours_in, target).backward()
    per_example_auraloss([512, 1024, 2048], [128, 256, 512], [512, 1024, 2048], theirs_in, target).backward()
    assert torch.allclose(ours_in.grad, theirs_in.grad, rtol=1e-3, atol=1e-9)


def test_stft_loss_is_zero_for_identical_audio_and_grows_with_error():
    _, target = audio_pair()
    loss = create_stft_loss(LossConfig())
    assert float(loss(target, target)) < 1e-6
    small = float(loss(target + 0.01 * torch.randn_like(target), target))
    large = float(loss(target + 0.5 * torch.randn_like(target), target))
    assert 0 < small < large


def test_gradients_finite_on_silent_input_and_target():
    rep = Representation(16000, 1024, 256)
    silent = torch.zeros(2, 8000)
    target = rep.encode(silent)
    recon = target.clone().requires_grad_(True)
    mu = torch.zeros(2, 8, requires_grad=True)
    logvar = torch.zeros(2, 8, requires_grad=True)
    out = compute_combined_loss(recon, target, mu, logvar, LossConfig(), 0.01, representation=rep, target_audio=silent)
    out["total"].backward()
    assert all(torch.isfinite(v) for v in out.values())
    for tensor in (recon, mu, logvar):
        assert torch.isfinite(tensor.grad).all()
    audio = torch.zeros(2, 8000, requires_grad=True)
    create_stft_loss(LossConfig())(audio, torch.zeros(2, 8000)).backward()
    assert torch.isfinite(audio.grad).all()


def test_combined_loss_keys_and_weighting():
    rep = Representation(16000, 512, 128)
    pred_audio, target_audio = audio_pair(batch=2, samples=8000)
    target, recon = rep.encode(target_audio), rep.encode(pred_audio)
    gen = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(2, 16, generator=gen), 0.1 * torch.randn(2, 16, generator=gen)
    config = LossConfig(stft=STFTLossConfig(weight=2.0), reconstruction=ReconLossConfig(weight=0.5, magnitude_weight=1.5, if_weight=0.25),
                        level=LevelLossConfig(weight=0.7), kl=KLLossConfig(free_bits=0.0))
    out = compute_combined_loss(recon, target, mu, logvar, config, 0.3, representation=rep, target_audio=target_audio)
    assert set(out) == {"total", "stft", "magnitude", "if", "level", "kl", "recon"}
    assert term_weights(config, 0.3) == {"stft": 2.0, "magnitude": 0.75, "if": 0.125, "level": 0.7, "kl": 0.3}
    assert torch.isclose(out["magnitude"], (recon[:, 0] - target[:, 0]).abs().mean())
    assert torch.isclose(out["recon"], 0.5 * (1.5 * out["magnitude"] + 0.25 * out["if"]))
    expected_kl = (0.5 * (mu**2 + logvar.exp() - 1 - logvar)).sum(1).mean()
    assert torch.isclose(out["kl"], expected_kl)
    assert torch.isclose(out["level"], level_distance(rep.decode(recon, 8000), target_audio, 512, 128), rtol=1e-4)
    assert torch.isclose(out["total"], 2.0 * out["stft"] + out["recon"] + 0.7 * out["level"] + 0.3 * out["kl"])
    oracle = per_example_auraloss([512, 1024, 2048], [128, 256, 512], [512, 1024, 2048],
                                  rep.decode(recon, 8000), target_audio)
    assert abs(float(out["stft"]) - float(oracle)) <= 1e-4 * float(oracle)


def test_if_loss_is_weighted_by_target_magnitude():
    rep = Representation(16000, 512, 128)
    _, target_audio = audio_pair(batch=1, samples=8000)
    target = rep.encode(target_audio)
    magnitude = rep.magnitude(target)
    loud = magnitude >= magnitude.median()
    error_loud, error_quiet = target.clone(), target.clone()
    error_loud[:, 1][loud] += 0.1
    error_quiet[:, 1][~loud] += 0.1
    mu = logvar = torch.zeros(1, 4)

    def if_loss(recon):
        return float(compute_combined_loss(recon, target, mu, logvar, LossConfig(), 0.0, representation=rep,
                                           target_audio=target_audio)["if"])

    assert if_loss(error_loud) > 3 * if_loss(error_quiet)
    weights = magnitude / magnitude.mean()
    assert abs(if_loss(error_loud) - float((weights * loud * 0.1).mean())) < 1e-5


def test_free_bits_clamp_each_dimension():
    mu = torch.zeros(4, 10)
    mu[:, 0] = 2.0  # one dimension carries 2 nats, the rest none
    logvar = torch.zeros(4, 10)
    target = Representation(16000, 256, 64).encode(torch.zeros(4, 2000))
    out = compute_combined_loss(target, target, mu, logvar, LossConfig(kl=KLLossConfig(free_bits=0.5)), 1.0,
                                representation=Representation(16000, 256, 64))
    assert abs(float(out["kl"]) - (2.0 + 9 * 0.5)) < 1e-5


def test_default_signature_works_without_representation():
    target = Representation(16000, 1024, 256).encode(audio_pair(batch=2, samples=8000)[1])
    out = compute_combined_loss(target + 0.1, target, torch.zeros(2, 4), torch.zeros(2, 4), LossConfig(), 0.0)
    assert float(out["stft"]) > 0 and torch.isfinite(out["total"])


def test_kl_schedule_is_linear_warmup_then_constant():
    kl = KLLossConfig(weight_max=0.01, warmup_fraction=0.3)
    assert kl_weight_at(0, 1000, kl) == 0.0
    assert kl_weight_at(150, 1000, kl) == pytest.approx(0.005)
    assert kl_weight_at(300, 1000, kl) == pytest.approx(0.01)
    assert kl_weight_at(999, 1000, kl) == pytest.approx(0.01)
    assert kl_weight_at(0, 1000, KLLossConfig(weight_max=0.02, warmup_fraction=0.0)) == 0.02


def test_nonfinite_total_is_visible_without_host_sync():
    rep = Representation(16000, 256, 64)
    target = rep.encode(audio_pair(batch=1, samples=4000)[1])
    recon = target.clone()
    recon[0, 0, 3, 3] = float("nan")
    out = compute_combined_loss(recon, target, torch.zeros(1, 4), torch.zeros(1, 4), LossConfig(), 0.0, representation=rep)
    assert not bool(torch.isfinite(out["total"]))


def test_a_batch_loss_is_the_mean_of_its_halves_losses():
    """Every term is a per-example mean, so splitting a batch across processes changes nothing."""
    rep = Representation(16000, 512, 128)
    pred_audio, target_audio = audio_pair(batch=4, samples=8000)
    pred_audio[2:] *= 3.0  # the halves differ in level, which a pooled ratio would weigh unevenly
    target, recon = rep.encode(target_audio), rep.encode(pred_audio)
    gen = torch.Generator().manual_seed(2)
    mu, logvar = torch.randn(4, 8, generator=gen), 0.1 * torch.randn(4, 8, generator=gen)

    def losses(rows):
        return compute_combined_loss(recon[rows], target[rows], mu[rows], logvar[rows], LossConfig(), 0.3,
                                     representation=rep, target_audio=target_audio[rows])

    whole, first, second = losses(slice(0, 4)), losses(slice(0, 2)), losses(slice(2, 4))
    for name in whole:
        assert torch.isclose(whole[name], (first[name] + second[name]) / 2, rtol=1e-5), name


def frame_rms_db(audio, frame, hop, chunk):
    """Each centred frame's RMS in dB, computed by hand (numpy), zero-padded at both ends, the mean
    square floored at LEVEL_FLOOR_RELATIVE of the original `chunk`'s, at most LEVEL_FLOOR_MAX."""
    import numpy as np
    x = np.pad(np.asarray(audio, dtype=np.float64), frame // 2)
    floor = min(LEVEL_FLOOR_RELATIVE * np.mean(np.asarray(chunk, dtype=np.float64) ** 2), LEVEL_FLOOR_MAX)
    return np.array([10 * np.log10(np.mean(x[i * hop:i * hop + frame] ** 2) + floor)
                     for i in range(1 + len(audio) // hop)])


def test_level_distance_is_the_mean_frame_level_difference_in_nats():
    _, target_audio = audio_pair(batch=2, samples=8000)
    quiet = target_audio * 0.1  # 20 dB down everywhere
    got = float(level_distance(quiet, target_audio, 512, 128))
    by_hand = sum(abs(frame_rms_db(q, 512, 128, t) - frame_rms_db(t, 512, 128, t)).mean()
                  for q, t in zip(quiet.numpy(), target_audio.numpy())) / 2
    assert got == pytest.approx(by_hand * math.log(10) / 20, rel=1e-4)
    assert got == pytest.approx(math.log(10), rel=0.02)  # 20 dB = ln 10 nats where the level is above the floor
    assert float(level_distance(target_audio, target_audio, 512, 128)) == 0.0


def test_level_distance_floor_follows_the_chunk_so_a_quiet_sound_keeps_its_pull():
    """A sound at -45 dBFS reconstructed 20 dB down (-65 dBFS, below the old fixed -60 dBFS floor)
    is 20 dB off, as a loud one is; the reconstruction is pulled up either way."""
    _, sound = audio_pair(batch=1, samples=8000)
    for level_db in (-10.0, -45.0):
        target = sound * (10 ** (level_db / 20) / sound.square().mean().sqrt())
        pred = (target * 0.1).requires_grad_()
        loss = level_distance(pred, target, 512, 128)
        loss.backward()
        assert float(loss.detach()) == pytest.approx(math.log(10), rel=0.05), level_db
        assert float((pred.grad * pred.detach()).sum()) < 0  # louder is better: the gradient points up


def test_level_floor_is_40_db_under_a_quiet_chunk_and_never_above_minus_60_dbfs():
    for level_db, floor_db in ((-45.0, -85.0), (-30.0, -70.0), (-10.0, -60.0), (0.0, -60.0)):
        chunk = torch.full((1, 1000), 10 ** (level_db / 20))
        assert 10 * math.log10(float(level_floor(chunk))) == pytest.approx(floor_db, abs=1e-3), level_db
    assert float(level_floor(torch.zeros(1, 1000))) > 0  # digital silence: no log of 0


def test_level_distance_matches_digital_silence_and_keeps_gradients_finite():
    _, sound = audio_pair(batch=1, samples=8000)
    target = torch.cat([sound[:, :4000], torch.zeros(1, 4000)], dim=1)  # a sound, then padding
    pred = torch.zeros(1, 8000, requires_grad=True)
    loss = level_distance(pred, target, 512, 128)
    loss.backward()
    assert torch.isfinite(loss.detach()) and torch.isfinite(pred.grad).all()
    silent_tail = level_distance(torch.zeros(1, 3000), torch.zeros(1, 3000), 512, 128)
    assert float(silent_tail) == 0.0
    louder = level_distance(target * 0.5, target, 512, 128)
    assert 0 < float(louder) < float(loss.detach())  # 6 dB down is nearer than silence
