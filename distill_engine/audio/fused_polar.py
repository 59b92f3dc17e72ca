"""The training decode's spectrum in one autograd node: normalised log-magnitude and phase ->
complex STFT, with a hand-written backward.

Composed from torch ops, magnitude(rep) * (cos + i sin) records six elementwise nodes and keeps
their intermediates for the backward (about 1.4x slower forward + backward at full band, measured
in benchmarks/bench_fused_polar.py). Here the forward keeps three tensors (m, cos, sin) and one
factor, and the backward is, with g = gr + i gi the gradient of the spectrum (PyTorch passes
dL/dRe + i dL/dIm for a complex output of real inputs):

    dm     = gr cos(phi) + gi sin(phi)
    dphi   = m (gi cos(phi) - gr sin(phi))
    dr0    = dm * exp(lm) * std   where lm = r0 * std + mean is below its cap and exp(lm) > eps

which is exactly the derivative of Representation.magnitude's clamps (torch.clamp passes the
gradient where the input lies inside its bounds, ends included).
"""
from __future__ import annotations

import torch


class _MagnitudePolar(torch.autograd.Function):
    @staticmethod
    def forward(ctx, log_mag_norm, phase, std, mean, cap, eps):
        log_mag = log_mag_norm * std + mean
        exp = torch.exp(log_mag.clamp(max=cap))
        magnitude = (exp - eps).clamp(min=0.0)
        cos, sin = torch.cos(phase), torch.sin(phase)
        inside = (log_mag <= cap) & (exp - eps >= 0.0)
        ctx.save_for_backward(magnitude, cos, sin, exp * inside * std)
        return torch.complex(magnitude * cos, magnitude * sin)

    @staticmethod
    def backward(ctx, grad):
        magnitude, cos, sin, factor = ctx.saved_tensors
        gr, gi = grad.real, grad.imag
        d_magnitude = gr * cos + gi * sin
        d_phase = magnitude * (gi * cos - gr * sin)
        return d_magnitude * factor, d_phase, None, None, None, None


def magnitude_polar(log_mag_norm: torch.Tensor, phase: torch.Tensor, std: float, mean: float, cap: float,
                    eps: float) -> torch.Tensor:
    """clamp(exp(clamp(r0 * std + mean, max=cap)) - eps, min=0) * exp(i phase), fused (see above)."""
    return _MagnitudePolar.apply(log_mag_norm, phase, std, mean, cap, eps)
