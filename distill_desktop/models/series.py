"""Growing numeric series for the live plots, and the maths their drawing needs (numpy only, no Qt).

- `GrowingArray` / `GrowingSeries`: float64 arrays that grow in place by doubling their capacity
  (pyqtgraph's scrollingPlots example), so appending a burst of steps never copies the whole run.
- `EmaState` / `ema_debiased`: TensorBoard's debiased exponential moving average, computed in
  vectorised blocks and extendable, so a redraw only smooths the points that arrived since the last.
- `MinMaxPyramid` / `envelope`: block minima and maxima kept up to date as a series grows, so the
  min/max envelope of any range at one column per pixel costs O(pixels), not O(points), and a
  single-step spike is never lost.
- `robust_range`: a y-range that ignores outliers.
"""
from __future__ import annotations

import math

import numpy as np


class GrowingArray:
    """A 1-D float64 array that grows in place by doubling its capacity; `.data` views the filled part."""

    def __init__(self, capacity: int = 1024):
        self._buffer = np.empty(max(int(capacity), 1), dtype=np.float64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def data(self) -> np.ndarray:
        """A view of the filled part (valid until the next growth; values already there never change)."""
        return self._buffer[:self._size]

    def _reserve(self, size: int) -> None:
        if size > len(self._buffer):   # a bulk load gets 25% slack: a loaded run usually goes on
            grown = np.empty(max(size + size // 4, 2 * len(self._buffer)), dtype=np.float64)
            grown[:self._size] = self._buffer[:self._size]
            self._buffer = grown

    def append(self, value: float) -> None:
        self._reserve(self._size + 1)
        self._buffer[self._size] = value
        self._size += 1

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        self._reserve(self._size + len(values))
        self._buffer[self._size:self._size + len(values)] = values
        self._size += len(values)

    def clear(self) -> None:
        self._size = 0


class GrowingSeries:
    """Paired x and y float64 arrays that grow together by capacity doubling."""

    def __init__(self, capacity: int = 1024):
        self._x = GrowingArray(capacity)
        self._y = GrowingArray(capacity)

    def __len__(self) -> int:
        return len(self._x)

    @property
    def x(self) -> np.ndarray:
        return self._x.data

    @property
    def y(self) -> np.ndarray:
        return self._y.data

    def append(self, x: float, y: float) -> None:
        self._x.append(x)
        self._y.append(y)

    def extend(self, xs, ys) -> None:
        xs = np.asarray(xs, dtype=np.float64).ravel()
        ys = np.asarray(ys, dtype=np.float64).ravel()
        if len(xs) != len(ys):
            raise ValueError(f"x and y lengths differ: {len(xs)} != {len(ys)}")
        self._x.extend(xs)
        self._y.extend(ys)

    def clear(self) -> None:
        self._x.clear()
        self._y.clear()


# -- smoothing ---------------------------------------------------------------------------------

_MAX_GROWTH = 1e50  # a**-k stays below this inside one block, far from float64 overflow
_MAX_BLOCK = 4096


def _linear_recurrence(u: np.ndarray, a: float, y0: float) -> np.ndarray:
    """y_t = a * y_{t-1} + u_t with y_{-1} = y0, vectorised over blocks of k points.

    Inside a block y_k = a^k * (y_in + sum_{j<=k} a^-j u_j): one cumulative sum per row of a
    (blocks, k) matrix. k is chosen so a^-k cannot overflow; the carries between blocks are one
    scalar loop over the blocks (at most a few tens of thousands, only for tiny `a`).
    """
    n = len(u)
    if n == 0:
        return np.empty(0)
    if a == 0.0:
        return u.astype(np.float64, copy=True)
    k = int(min(_MAX_BLOCK, max(1.0, math.log(_MAX_GROWTH) / -math.log(a))))
    k = min(k, n)
    blocks = -(-n // k)
    padded = np.zeros(blocks * k)
    padded[:n] = u
    rows = padded.reshape(blocks, k)
    j = np.arange(1, k + 1, dtype=np.float64)
    decay = a ** j                      # a^1 .. a^k
    local = np.cumsum(rows * (1.0 / decay), axis=1)
    local *= decay                       # each block's response from a zero starting state
    carry_in = np.empty(blocks)
    a_k, c = a ** k, float(y0)
    if a_k < 1e-30:   # a block forgets its starting state: the carry into a block is the last block's end
        carry_in[0] = c
        carry_in[1:] = local[:-1, -1]
        if blocks > 1:
            carry_in[1] += a_k * c
    else:
        for b, end in enumerate(local[:, -1].tolist()):
            carry_in[b] = c
            c = a_k * c + end
    local += carry_in[:, None] * decay
    return local.ravel()[:n]


class EmaState:
    """TensorBoard's debiased EMA, extendable: `extend(values)` returns the smoothed new points.

    smoothing in [0, 1): 0 leaves values as they are. Non-finite values are skipped: their smoothed
    value carries the last one (NaN before the first finite value) and they do not count towards
    the debiasing.
    """

    def __init__(self, smoothing: float):
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self.smoothing = float(smoothing) if smoothing >= 1e-12 else 0.0
        self._accumulator = 0.0
        self._count = 0
        self._last = math.nan

    def extend(self, values) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64).ravel()
        finite = np.isfinite(values)
        kept = values[finite]
        a = self.smoothing
        smoothed = np.empty(len(kept) + 1)
        smoothed[0] = self._last
        if len(kept):
            acc = _linear_recurrence(kept * (1.0 - a), a, self._accumulator)
            smoothed[1:] = acc
            # debias by 1 - a^count while a^count still shows in float64 (the first few thousand points)
            horizon = 0 if a == 0.0 else int(min(len(kept), max(0.0, 40.0 / -math.log10(a) - self._count)))
            if horizon > 0:
                counts = self._count + np.arange(1, horizon + 1, dtype=np.float64)
                smoothed[1:horizon + 1] /= 1.0 - a ** counts
            self._accumulator = float(acc[-1])
            self._count += len(kept)
            self._last = float(smoothed[-1])
        # each point takes the smoothed value of the last finite point at or before it
        return smoothed[np.cumsum(finite)]


def ema_debiased(values, smoothing: float) -> np.ndarray:
    """The debiased EMA of a whole series (see EmaState)."""
    return EmaState(smoothing).extend(values)


# -- ranges and envelopes ----------------------------------------------------------------------

def robust_range(values, quantile: float = 0.99) -> tuple[float, float] | None:
    """(low, high) = the (1 - quantile) and quantile quantiles of the finite values; None if none."""
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    low, high = np.quantile(values, [1.0 - quantile, quantile])
    return float(low), float(high)


class MinMaxPyramid:
    """Minima and maxima of a growing array over blocks of 8, 64, 512, … points (NaN ignored).

    `update(y)` reduces only the blocks completed since the last call; `y` must only grow (values
    already seen never change) — call `clear()` when it is reset.
    """

    FACTOR = 8

    def __init__(self):
        self.levels: list[tuple[GrowingArray, GrowingArray]] = []  # level L: blocks of FACTOR**(L+1)

    def clear(self) -> None:
        self.levels = []

    def update(self, y: np.ndarray) -> None:
        f = self.FACTOR
        low = high = y
        level = 0
        while len(low) >= f:
            if level == len(self.levels):
                self.levels.append((GrowingArray(), GrowingArray()))
            mins, maxs = self.levels[level]
            done, full = len(mins), len(low) // f
            if full > done:
                mins.extend(np.fmin.reduce(low[done * f:full * f].reshape(-1, f), axis=1))
                maxs.extend(np.fmax.reduce(high[done * f:full * f].reshape(-1, f), axis=1))
            low, high = mins.data, maxs.data
            level += 1


def envelope(x: np.ndarray, y: np.ndarray, pyramid: MinMaxPyramid | None, start: int, stop: int,
             columns: int) -> tuple[np.ndarray, np.ndarray]:
    """The min/max envelope of points [start, stop) in about `columns` columns.

    Returns the points themselves when there are at most 2 * columns of them; otherwise each column
    becomes two points at the x of its first point, (x, max) then (x, min), like pyqtgraph's 'peak'
    downsampling, and the last point follows so the curve reaches it. Columns split the index
    range evenly (x is assumed roughly evenly spaced).
    `pyramid` must be up to date with y (or None: reduce the raw points, O(points)).
    """
    start, stop = max(int(start), 0), min(int(stop), len(y))
    count = stop - start
    columns = max(int(columns), 1)
    if count <= 2 * columns:
        return x[start:stop], y[start:stop]
    per_column = count / columns
    block, low, high = 1, y, y
    if pyramid is not None:
        for level, (mins, maxs) in enumerate(pyramid.levels):
            size = MinMaxPyramid.FACTOR ** (level + 1)
            if size > per_column:
                break
            block, low, high = size, mins.data, maxs.data
    first = -(-start // block)                   # first whole block inside the range
    last = min(stop // block, len(low))          # end of the whole blocks inside the range
    if last - first < 1:
        block, low, high, first, last = 1, y, y, start, stop
    starts = np.linspace(first, last, columns + 1)[:-1].astype(np.int64)
    starts = starts[np.r_[True, starts[1:] > starts[:-1]]]      # ascending, without repeats
    pieces = []   # (column x, column max, column min) in x order: head partial block, whole blocks, tail

    def raw_piece(lo, hi):
        if hi > lo:
            pieces.append((x[lo:lo + 1], np.fmax.reduce(y[lo:hi], keepdims=True),
                           np.fmin.reduce(y[lo:hi], keepdims=True)))

    raw_piece(start, first * block)
    pieces.append((x[starts * block], np.fmax.reduceat(high[first:last], starts - first),
                   np.fmin.reduceat(low[first:last], starts - first)))
    raw_piece(last * block, stop)
    xs, maxima, minima = zip(*pieces)
    columns_x = np.concatenate(xs)
    out_x, out_y = np.empty(2 * len(columns_x) + 1), np.empty(2 * len(columns_x) + 1)
    out_x[:-1] = np.repeat(columns_x, 2)
    out_y[:-1:2] = np.concatenate(maxima)
    out_y[1:-1:2] = np.concatenate(minima)
    out_x[-1], out_y[-1] = x[stop - 1], y[stop - 1]      # the curve reaches its last point
    return out_x, out_y
