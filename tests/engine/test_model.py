"""The VAE: shapes for any input size, bounded IF output, working encode/decode."""
import pytest
import torch

from distill_engine import SpectrogramVAE


@pytest.mark.parametrize("n_freq,n_frames", [(513, 94), (257, 33), (100, 7), (1025, 50)])
def test_output_matches_any_input_size(n_freq, n_frames):
    model = SpectrogramVAE(n_freq, n_frames, latent_dim=16)
    x = torch.randn(3, 2, n_freq, n_frames)
    recon, mu, logvar = model(x)
    assert recon.shape == x.shape
    assert mu.shape == logvar.shape == (3, 16)


def test_if_channel_bounded_and_magnitude_channel_unbounded():
    torch.manual_seed(0)
    model = SpectrogramVAE(129, 20, latent_dim=8)
    with torch.no_grad():
        model.decoder[-1].bias.fill_(5.0)
    with torch.no_grad():
        recon = model.decode(torch.randn(4, 8) * 10)
    assert float(recon[:, 1].abs().max()) <= 1.0
    assert float(recon[:, 0].max()) > 1.0


def test_encode_decode_and_parameter_count():
    model = SpectrogramVAE(513, 94, latent_dim=128).eval()
    mu, logvar = model.encode(torch.randn(2, 2, 513, 94))
    assert mu.shape == (2, 128)
    assert model.decode(mu).shape == (2, 2, 513, 94)
    assert model.parameter_count() == sum(p.numel() for p in model.parameters())
    assert 1_000_000 < model.parameter_count() < 20_000_000


def test_eval_mode_is_deterministic_and_training_samples():
    torch.manual_seed(0)
    model = SpectrogramVAE(129, 20, latent_dim=8)
    x = torch.randn(2, 2, 129, 20)
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])
    model.train()
    assert not torch.equal(model(x)[0], model(x)[0])


def test_gradients_reach_every_parameter():
    model = SpectrogramVAE(129, 20, latent_dim=8)
    recon, mu, logvar = model(torch.randn(2, 2, 129, 20))
    (recon.square().mean() + mu.square().mean() + logvar.square().mean()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
