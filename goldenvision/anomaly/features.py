"""Golden-conditioned models over patch features (PatchCore- and PaDiM-style).

Units arrive registered into golden px, so the usual position-free memory bank of
PatchCore (Roth et al., "Towards Total Recall in Industrial Anomaly Detection", CVPR 2022,
doi:10.1109/CVPR52688.2022.01392) can be restricted to the *same place*: a unit's patch
feature is compared with the good features at the same cell ± ``radius`` cells. PaDiM
(Defard et al., ICPR Workshops 2021, doi:10.1007/978-3-030-68799-1_35) models each cell as a
Gaussian over a random subset of channels. Textured zones (leather grain, fabric) have no
fixed geometry, so their score is the distance to the nearest feature of the zone's whole
bank, reduced by greedy k-centre coreset selection (PatchCore §3.3).

All feature maps are ``(h, w, C)`` float32 at the backbone stride (cells of 8 px of the
image given to the backbone).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "per_position_coreset",
    "local_nn_score",
    "fit_padim",
    "padim_score",
    "greedy_coreset",
    "global_nn_score",
]


def _sqdist_to(bank: np.ndarray, ref: np.ndarray) -> np.ndarray:
    d = bank - ref
    return np.einsum("...c,...c->...", d, d)


def per_position_coreset(bank: np.ndarray, k: int) -> np.ndarray:
    """Greedy k-centre selection of ``k`` of ``N`` good samples, independently per cell.

    Parameters
    ----------
    bank : ndarray, shape (N, h, w, C), float
        Features of N good images.
    k : int
        Samples kept per cell.

    Returns
    -------
    ndarray, shape (min(k, N), h, w, C), same dtype
        At each cell, the samples that best cover the N (k-centre in L2).
    """
    n = bank.shape[0]
    if n <= k:
        return bank
    b = bank.astype(np.float32)
    h, w = b.shape[1:3]
    ii, jj = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    mean = b.mean(axis=0)
    first = np.argmin(_sqdist_to(b, mean[None]), axis=0)  # most central sample starts
    chosen = [first]
    mind = _sqdist_to(b, b[first, ii, jj][None])
    for _ in range(1, k):
        idx = np.argmax(mind, axis=0)
        chosen.append(idx)
        mind = np.minimum(mind, _sqdist_to(b, b[idx, ii, jj][None]))
    return np.stack([bank[c, ii, jj] for c in chosen])


def local_nn_score(feat: np.ndarray, bank: np.ndarray, *, radius: int = 1) -> np.ndarray:
    """Distance of each cell's feature to the nearest good feature within ``radius`` cells.

    Parameters
    ----------
    feat : ndarray, shape (h, w, C), float32
        Unit features.
    bank : ndarray, shape (K, h, w, C), float
        Good features at the same cells.
    radius : int, keyword-only
        Neighbourhood half-size in cells (tolerates misregistration).

    Returns
    -------
    ndarray, shape (h, w), float32
        L2 distance (feature units).
    """
    k, h, w, _ = bank.shape
    b = np.pad(bank.astype(np.float32), ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode="edge")
    best = np.full((h, w), np.inf, np.float32)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            d2 = _sqdist_to(b[:, dy : dy + h, dx : dx + w], feat[None]).min(axis=0)
            np.minimum(best, d2, out=best)
    return np.sqrt(best)


def fit_padim(
    bank: np.ndarray, channels: np.ndarray, *, radius: int = 1, shrink: float = 0.1, eps: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell Gaussian (mean, inverse covariance) over ``channels`` (PaDiM).

    With few good images each cell also takes its neighbours within ``radius`` as samples,
    and the covariance is shrunk towards its diagonal (Ledoit & Wolf style) plus ``eps · I``.

    Parameters
    ----------
    bank : ndarray, shape (N, h, w, C)
    channels : ndarray, shape (d,), int
        Channel subset (random, seeded, as in PaDiM).

    Returns
    -------
    mean : ndarray, shape (h, w, d), float32
    inv_cov : ndarray, shape (h, w, d, d), float32
    """
    x = bank[..., channels].astype(np.float32)
    n, h, w, d = x.shape
    p = np.pad(x, ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode="edge")
    samples = np.concatenate(
        [p[:, dy : dy + h, dx : dx + w] for dy in range(2 * radius + 1) for dx in range(2 * radius + 1)], axis=0
    )
    mean = samples.mean(axis=0)
    c = samples - mean[None]
    cov = np.einsum("nhwi,nhwj->hwij", c, c) / max(samples.shape[0] - 1, 1)
    diag = np.einsum("hwii->hwi", cov)
    cov = (1 - shrink) * cov
    idx = np.arange(d)
    cov[..., idx, idx] += shrink * diag + eps
    return mean.astype(np.float32), np.linalg.inv(cov).astype(np.float32)


def padim_score(feat: np.ndarray, mean: np.ndarray, inv_cov: np.ndarray, channels: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of each cell's feature to its Gaussian, shape (h, w) float32."""
    d = feat[..., channels] - mean
    m = np.einsum("hwi,hwij,hwj->hw", d, inv_cov.astype(np.float32), d)
    return np.sqrt(np.maximum(m, 0)).astype(np.float32)


def greedy_coreset(x: np.ndarray, k: int, *, proj_dim: int = 32, seed: int = 0) -> np.ndarray:
    """Indices of a greedy k-centre coreset of the rows of ``x`` (PatchCore §3.3).

    Distances are computed after a seeded Gaussian random projection to ``proj_dim``
    dimensions (Johnson-Lindenstrauss), as PatchCore does for speed.

    Parameters
    ----------
    x : ndarray, shape (M, C)
    k : int

    Returns
    -------
    ndarray, shape (min(k, M),), int64
    """
    m = x.shape[0]
    if m <= k:
        return np.arange(m)
    rng = np.random.default_rng(seed)
    xp = x.astype(np.float32) @ (rng.standard_normal((x.shape[1], proj_dim)).astype(np.float32) / np.sqrt(proj_dim))
    sel = np.empty(k, np.int64)
    sel[0] = int(rng.integers(m))
    mind = _sqdist_to(xp, xp[sel[0]])
    for i in range(1, k):
        sel[i] = int(np.argmax(mind))
        np.minimum(mind, _sqdist_to(xp, xp[sel[i]]), out=mind)
    return sel


def global_nn_score(feat: np.ndarray, bank: np.ndarray, *, chunk: int = 4096) -> np.ndarray:
    """Distance of each cell's feature to its nearest neighbour in a position-free bank.

    Parameters
    ----------
    feat : ndarray, shape (h, w, C), float32
    bank : ndarray, shape (M, C), float

    Returns
    -------
    ndarray, shape (h, w), float32
    """
    h, w, c = feat.shape
    f = feat.reshape(-1, c).astype(np.float32)
    b = bank.astype(np.float32)
    bn = np.einsum("mc,mc->m", b, b)
    out = np.empty(len(f), np.float32)
    for s in range(0, len(f), chunk):
        fs = f[s : s + chunk]
        d2 = np.einsum("pc,pc->p", fs, fs)[:, None] + bn[None] - 2.0 * (fs @ b.T)
        out[s : s + chunk] = d2.min(axis=1)
    return np.sqrt(np.maximum(out, 0)).reshape(h, w)
