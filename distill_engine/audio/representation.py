"""2-channel magnitude + instantaneous-frequency representation on linear STFT bins.

Channel 0 is the log-magnitude, normalised by corpus statistics (mean/std of log-magnitude).
Channel 1 is the instantaneous frequency: the wrapped frame-to-frame phase advance minus each bin's
expected advance, divided by pi so it lies in [-1, 1]. Frame 0 of channel 1 holds the first frame's
true phase / pi instead, so decoding (phase = cumulative sum, then ISTFT) reproduces the audio.
No mel averaging of IF and no zeroed first phase: both made the seed's version lossy.
"""
from __future__ import annotations

import math

import torch

from .fused_polar import magnitude_polar

LOG_EPS = 1e-7
DEFAULT_LOG_MAG_MEAN = -6.0
DEFAULT_LOG_MAG_STD = 4.0
#: A bin whose log-magnitude is at most this (ten times LOG_EPS) is digital silence, left out of `fit`.
SILENT_LOG_MAG = math.log(10 * LOG_EPS)
FIT_BLOCK = 64  # chunks per block in fit
TRAINING_FRAMES = 1024  # decode(precise=False) takes the float32 path up to this many frames


def _precise_dtype(tensor: torch.Tensor) -> torch.dtype:
    """float64 where the device has it (not MPS), else the tensor's own dtype."""
    return tensor.dtype if tensor.device.type == "mps" else torch.float64


def wrap_phase(phase: torch.Tensor) -> torch.Tensor:
    """Wrap angles into [-pi, pi)."""
    return torch.remainder(phase + math.pi, 2 * math.pi) - math.pi


class Representation:
    """Encodes audio [batch, samples] to [batch, 2, n_fft // 2 + 1, frames] and back.

    Args:
        sample_rate: audio rate in Hz (kept for bookkeeping; the maths is rate-free).
        n_fft: FFT size and Hann window length (power of two).
        hop_length: hop between frames in samples.
        log_mag_mean, log_mag_std: normalisation of channel 0; `fit` sets them from a corpus.
    """

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int,
                 log_mag_mean: float = DEFAULT_LOG_MAG_MEAN, log_mag_std: float = DEFAULT_LOG_MAG_STD):
        self.sample_rate = int(sample_rate)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.log_mag_mean = float(log_mag_mean)
        self.log_mag_std = float(log_mag_std)
        self._windows: dict[tuple, torch.Tensor] = {}
        self._envelopes: dict[tuple, torch.Tensor] = {}
        self._advances: dict[tuple, torch.Tensor] = {}
        self._phase_ramps: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def n_freq(self) -> int:
        return self.n_fft // 2 + 1

    def n_frames(self, n_samples: int) -> int:
        """Frames of a centred STFT of n_samples."""
        return 1 + n_samples // self.hop_length

    def _window(self, device, dtype=torch.float32) -> torch.Tensor:
        key = (str(device), dtype)
        if key not in self._windows:
            self._windows[key] = torch.hann_window(self.n_fft, device=device, dtype=dtype)
        return self._windows[key]

    def _expected_advance(self, device, dtype=torch.float32) -> torch.Tensor:
        """Phase advance per hop of a sinusoid at each bin's centre frequency, shape [freq, 1]."""
        key = (str(device), dtype)
        if key not in self._advances:
            bins = torch.arange(self.n_freq, device=device, dtype=torch.float64)
            adv = wrap_phase(2 * math.pi * bins * self.hop_length / self.n_fft)
            self._advances[key] = adv.to(dtype).unsqueeze(-1)
        return self._advances[key]

    # -- raw (unnormalised magnitude) encoding: what the corpus cache stores ---------------------
    def encode_raw(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio [batch, samples] (or [samples]) -> [batch, 2, freq, frames], channel 0 = log-magnitude.

        The STFT runs in float64 (except on MPS, which has none): a float32 FFT's rounding noise
        sits ~140 dB below the loudest bin, which is enough to disturb the log-magnitude of quiet
        bins of a real recording."""
        if audio.dim() == 1:
            return self.encode_raw(audio.unsqueeze(0))[0]
        out_dtype, audio = audio.dtype, audio.to(_precise_dtype(audio))
        spec = torch.stft(audio, self.n_fft, self.hop_length, window=self._window(audio.device, audio.dtype),
                          center=True, return_complex=True)
        log_mag = torch.log(spec.abs() + LOG_EPS)
        phase = torch.angle(spec)
        expected = self._expected_advance(audio.device, phase.dtype)
        advance = wrap_phase(phase[..., 1:] - phase[..., :-1] - expected)
        inst_freq = torch.cat([phase[..., :1], advance], dim=-1) / math.pi
        return torch.stack([log_mag, inst_freq], dim=1).to(out_dtype)

    def normalise(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw encoding -> model space (channel 0 standardised by the corpus statistics)."""
        return self.normalise_(raw.clone())

    def normalise_(self, raw: torch.Tensor) -> torch.Tensor:
        """`normalise` in place (no second copy of a corpus' representation); returns `raw`."""
        log_mag = raw[0] if raw.dim() == 3 else raw[:, 0]
        log_mag.sub_(self.log_mag_mean).div_(self.log_mag_std)
        return raw

    def magnitude(self, rep: torch.Tensor) -> torch.Tensor:
        """Linear magnitude [batch, freq, frames] of a normalised representation.

        The log-magnitude is capped at log(n_fft), twice the largest |X| that full-scale audio can
        have (the Hann window sums to n_fft / 2): real audio never reaches it, and a model output
        above it cannot decode to exploding audio."""
        log_mag = torch.clamp(rep[:, 0] * self.log_mag_std + self.log_mag_mean, max=math.log(self.n_fft))
        return torch.clamp(torch.exp(log_mag) - LOG_EPS, min=0.0)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio [batch, samples] -> normalised representation [batch, 2, freq, frames]."""
        return self.normalise(self.encode_raw(audio))

    def decode(self, rep: torch.Tensor, length: int, precise: bool = True) -> torch.Tensor:
        """Normalised representation -> audio [batch, length]: phase = cumsum of IF, then ISTFT.

        With precise=True the cumulative sum and the ISTFT run in float64 and the phase is wrapped
        before the ISTFT, so long files keep their phase precision (a float32 sum over 10^5 frames
        would lose ~0.03 rad) and decode(encode(x)) returns x to within float32 rounding. The
        training loss passes precise=False: for up to TRAINING_FRAMES frames everything stays
        float32 and the phase is one matrix product (see _training_phase), ~2.5x faster forward
        and backward than the float64 path and within ~115 dB of it; longer inputs take the
        float64 path either way."""
        if rep.dim() == 3:
            return self.decode(rep.unsqueeze(0), length, precise)[0]
        out_dtype = rep.dtype
        if not precise and rep.shape[-1] <= TRAINING_FRAMES and rep.dtype != torch.float64:
            phase = self._training_phase(rep[:, 1])
            spec = magnitude_polar(rep[:, 0], phase, self.log_mag_std, self.log_mag_mean, math.log(self.n_fft), LOG_EPS)
            real_dtype = rep.dtype
        else:
            if precise:
                rep = rep.to(_precise_dtype(rep))
            magnitude = self.magnitude(rep)
            accumulate = _precise_dtype(rep)
            steps = rep[:, 1].to(accumulate) * math.pi
            advance = torch.cat([steps[..., :1], steps[..., 1:] + self._expected_advance(rep.device, accumulate)],
                                dim=-1)
            phase = wrap_phase(torch.cumsum(advance, dim=-1)).to(magnitude.dtype)
            spec = torch.polar(magnitude, phase)
            real_dtype = magnitude.dtype
        if spec.device.type == "cpu":  # torch.istft is faster here, and its check costs no sync
            audio = torch.istft(spec, self.n_fft, self.hop_length, window=self._window(spec.device, real_dtype),
                                center=True, length=length)
        else:
            audio = self._inverse_stft(spec, length)
        return audio.to(out_dtype)

    def _training_phase(self, inst_freq: torch.Tensor) -> torch.Tensor:
        """Unwrapped phase [batch, freq, frames] of an IF channel, for short inputs in float32.

        phase[t] = pi * sum(IF[0..t]) + t * expected advance: the sum is a product with an upper
        triangular matrix of ones (a GEMM, forward and backward, instead of cumsum's sequential
        pass, flips and dtype copies), and t * expected advance is precomputed wrapped in float64."""
        n_frames, key = inst_freq.shape[-1], (inst_freq.shape[-1], str(inst_freq.device), inst_freq.dtype)
        if key not in self._phase_ramps:
            advance = self._expected_advance(inst_freq.device, torch.float64)
            frames = torch.arange(n_frames, device=inst_freq.device, dtype=torch.float64)
            ramp = wrap_phase(advance * frames).to(inst_freq.dtype)
            ones = torch.ones(n_frames, n_frames, device=inst_freq.device, dtype=torch.float64)
            self._phase_ramps[key] = (ramp, (torch.triu(ones) * math.pi).to(inst_freq.dtype))
        ramp, summation = self._phase_ramps[key]
        return torch.matmul(inst_freq, summation) + ramp

    def _inverse_stft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """torch.istft(center=True) as inverse FFT + windowed overlap-add divided by the cached
        window envelope, for accelerators: same result, but no host-side check of the envelope
        (torch.istft reads one value back every call, which synchronises a GPU step). On the CPU
        torch.istft is ~30 % faster, so decode uses it there."""
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=1)  # [batch, n_fft, frames]
        window = self._window(spec.device, frames.dtype)
        n_frames = frames.shape[-1]
        audio = self._overlap_add(frames * window.unsqueeze(-1))
        audio = audio / self._envelope(n_frames, spec.device, frames.dtype)
        start = self.n_fft // 2
        audio = audio[:, start:start + length]
        if audio.shape[-1] < length:
            audio = torch.nn.functional.pad(audio, (0, length - audio.shape[-1]))
        return audio

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """[batch, n_fft, frames] -> [batch, n_fft + hop * (frames - 1)], frames summed at hop steps.

        When hop divides n_fft this is n_fft / hop shifted adds (cheap forward and backward);
        otherwise F.fold does it."""
        batch, n_fft, n_frames = frames.shape
        hop = self.hop_length
        if n_fft % hop:
            full = n_fft + hop * (n_frames - 1)
            return torch.nn.functional.fold(frames, output_size=(1, full), kernel_size=(1, n_fft),
                                            stride=(1, hop)).reshape(batch, full)
        ratio = n_fft // hop
        pieces = frames.reshape(batch, ratio, hop, n_frames).transpose(2, 3).reshape(batch, ratio, n_frames * hop)
        out = None
        for j in range(ratio):
            shifted = torch.nn.functional.pad(pieces[:, j], (j * hop, (ratio - 1 - j) * hop))
            out = shifted if out is None else out + shifted
        return out

    def _envelope(self, n_frames: int, device, dtype) -> torch.Tensor:
        """Overlap-added squared window for n_frames frames (floored like torch.istft's check)."""
        key = (n_frames, str(device), dtype)
        if key not in self._envelopes:
            window_sq = self._window(device, dtype).square().reshape(1, -1, 1).expand(1, -1, n_frames)
            self._envelopes[key] = self._overlap_add(window_sq)[0].clamp(min=1e-11)
        return self._envelopes[key]

    # -- normalisation statistics ----------------------------------------------------------------
    def fit(self, raw: torch.Tensor) -> None:
        """Set channel-0 statistics from raw encodings of the training corpus, over its heard bins.

        Bins of digital silence (at most SILENT_LOG_MAG: the padding after a one-shot shorter than
        its chunk, a file's silent tail) are left out. Counted in, they pulled the mean towards
        silence (61 % of the bins of a kit of 27 one-shots, mean -12.2 nats instead of -6.2), so a
        young model, whose output starts near 0, decoded near-silence and spent most of a 5-minute
        run climbing out of it (README, "Normalisation over the heard bins"). All bins count when
        none is heard.
        Read block by block in float64: no float64 copy of a large corpus."""
        total, total_sq, count = 0.0, 0.0, 0
        for block in raw[:, 0].split(FIT_BLOCK):
            log_mag = block.double()
            heard = log_mag[log_mag > SILENT_LOG_MAG]
            total += float(heard.sum())
            total_sq += float(heard.square().sum())
            count += heard.numel()
        if count < 2:
            log_mag = raw[:, 0].double()
            self.log_mag_mean, self.log_mag_std = float(log_mag.mean()), max(float(log_mag.std()), 1e-3)
            return
        mean = total / count
        variance = max(total_sq / count - mean * mean, 0.0) * count / (count - 1)
        self.log_mag_mean, self.log_mag_std = mean, max(math.sqrt(variance), 1e-3)

    def state_dict(self) -> dict:
        """Plain numbers that rebuild this representation (saved in checkpoints and runs)."""
        return {"sample_rate": self.sample_rate, "n_fft": self.n_fft, "hop_length": self.hop_length,
                "log_mag_mean": self.log_mag_mean, "log_mag_std": self.log_mag_std}

    @classmethod
    def from_state_dict(cls, state: dict) -> "Representation":
        return cls(**state)

    @classmethod
    def from_config(cls, config) -> "Representation":
        """Representation with default statistics from a TrainingConfig's representation table."""
        rep = config.representation
        return cls(rep.sample_rate, rep.n_fft, rep.hop_length)
