"""The fused magnitude-and-phase spectrum equals the composed one, in value and gradient, including
where the magnitude's clamps cut the gradient (values at the cap and below the epsilon floor)."""
import math

import torch

from distill_engine.audio.fused_polar import magnitude_polar
from distill_engine.audio.representation import LOG_EPS, Representation


def composed(r0, phase, std, mean, cap, eps):
    log_mag = torch.clamp(r0 * std + mean, max=cap)
    magnitude = torch.clamp(torch.exp(log_mag) - eps, min=0.0)
    return torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))


def test_value_and_gradients_equal_the_composed_ops_in_float64():
    torch.manual_seed(0)
    std, mean, cap, eps = 6.3, -4.0, math.log(2048), LOG_EPS
    r0 = torch.randn(3, 40, 17, dtype=torch.float64) * 1.5
    r0[0, 0, :4] = (cap - mean) / std + torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64)  # above the cap
    r0[0, 1, :4] = (math.log(eps) - mean) / std - 1.0                                          # below the floor
    phase = torch.randn(3, 40, 17, dtype=torch.float64) * 4
    weights = torch.randn(3, 40, 17, dtype=torch.complex128)
    grads = []
    for fn in (composed, magnitude_polar):
        a, p = r0.clone().requires_grad_(), phase.clone().requires_grad_()
        out = fn(a, p, std, mean, cap, eps)
        (out * weights).real.sum().backward()
        grads.append((out.detach(), a.grad, p.grad))
    (v0, a0, p0), (v1, a1, p1) = grads
    assert torch.allclose(v0, v1, rtol=1e-12, atol=1e-15)
    assert torch.allclose(a0, a1, rtol=1e-10, atol=1e-12)
    assert torch.allclose(p0, p1, rtol=1e-10, atol=1e-12)
    assert (a1[0, 0, :4] == 0).all() and (a1[0, 1, :4] == 0).all()   # the clamps cut the gradient there


def test_gradcheck():
    torch.manual_seed(1)
    r0 = torch.randn(2, 6, 5, dtype=torch.float64, requires_grad=True)
    phase = torch.randn(2, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, p: torch.view_as_real(magnitude_polar(a, p, 2.0, -1.0, 6.0, 1e-7)),
                                    (r0, phase))


def test_the_training_decode_still_matches_the_precise_decode():
    rep = Representation(16000, 1024, 256)
    t = torch.arange(16000 // 2) / 16000
    audio = (0.4 * torch.sin(2 * math.pi * 440 * t) * torch.exp(-3 * t)).unsqueeze(0)
    encoded = rep.encode(audio)
    fast, precise = rep.decode(encoded, audio.shape[-1], precise=False), rep.decode(encoded, audio.shape[-1])
    snr = 10 * torch.log10(precise.pow(2).sum() / (fast.double() - precise).pow(2).sum())
    assert snr > 90
