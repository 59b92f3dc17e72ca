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


def test_full_band_input_folds_more_bins_and_strides_from_the_first_layer():
    from distill_engine.model.vae import architecture_for
    from distill_engine.model.versions import FIRST_ARCHITECTURE

    assert architecture_for(513) == FIRST_ARCHITECTURE  # 16 kHz keeps the first model's layers
    full = architecture_for(1025)
    assert full.freq_fold == 8 and all(stride == (2, 2) for _, _, stride in full.encoder_layers)
    model = SpectrogramVAE(1025, 130)  # 44.1 kHz, n_fft 2048, hop 512, 1.5 s
    first = model.encoder[0]
    assert first.in_channels == 16 and first.stride == (2, 2)
    x = torch.randn(2, 2, 1025, 130)
    recon, mu, _ = model(x)
    assert recon.shape == x.shape and mu.shape == (2, 128)


def test_channels_last_layout_computes_the_same_model():
    torch.manual_seed(0)
    model = SpectrogramVAE(1025, 40, latent_dim=16).eval()
    x = torch.randn(2, 2, 1025, 40)
    fast = model(x)[0]
    model.channels_last_on_cpu = False
    torch.testing.assert_close(model(x)[0], fast, rtol=1e-4, atol=1e-4)
