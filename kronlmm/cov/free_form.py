"""Full-rank trait covariance ``C = L Lᵀ + f·I`` (Cholesky parameterisation)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.parameters import Parameter
from ..core.validation import as_matrix, check_positive_int, check_square_symmetric
from ._lowrank_helpers import dLLt_dL
from .base import Covariance

__all__ = ["FreeFormCov"]


class FreeFormCov(Covariance):
    r"""Free-form positive-definite covariance ``C = L Lᵀ + diag(f)``.

    ``L`` (p × p) is lower triangular with a positive diagonal, parameterised by

    - ``Llow``: the p(p−1)/2 strictly-lower entries (row-major ``tril_indices(p, -1)``),
    - ``Llogd``: the p logarithms of the diagonal, ``L[i, i] = exp(Llogd[i])``.

    The log-diagonal makes ``L`` unique (no sign symmetry, no saddle at ``L[i,i] = 0``)
    and keeps ``C`` positive definite for every parameter value. ``f ≥ 0`` (``floor``, a
    scalar or one value per trait) is a fixed ridge; models set it relative to the
    variance of each trait.

    ``Lu`` is glimix-core's flat view of the same parameters: the strictly-lower entries
    followed by the logarithms of the diagonal, ``Lu = [Llow, Llogd]`` (read and
    assignable). Gradients are keyed by the optimised parameters ``Llow`` and ``Llogd``
    and also answer glimix-core's key ``"Lu"`` (the two concatenated, in ``Lu``'s order).

    Unlike glimix-core's, ``value()`` adds no hidden ε·I (glimix-core adds ε ≈ 1.49·10⁻⁵):
    ``C`` is exactly ``L Lᵀ + diag(f)``; set ``floor`` to reproduce glimix-core's matrix.

    Parameters
    ----------
    dim : int
        p, the dimension of ``C``.
    floor : float or array_like of p floats, optional
        f, added to the diagonal. Default 0.
    name : str, optional
        Name used as prefix in composite objects.

    Examples
    --------
    >>> from kronlmm.cov import FreeFormCov
    >>> cov = FreeFormCov(2)
    >>> cov.L = [[2.0, 0.0], [1.0, 1.0]]
    >>> cov.value()
    array([[4., 2.],
           [2., 2.]])
    >>> cov.Lu.round(6)  # glimix-core's Lu: strictly-lower entries, then log-diagonal
    array([1.      , 0.693147, 0.      ])
    >>> {name: g.shape for name, g in cov.gradient().items()}
    {'Llow': (2, 2, 1), 'Llogd': (2, 2, 2)}
    >>> cov.gradient()["Lu"].shape  # glimix-core's key: [Llow, Llogd]
    (2, 2, 3)
    """

    positive_definite = True
    follows_units = True

    def __init__(self, dim: int, floor: float | ArrayLike = 0.0, name: str | None = None) -> None:
        super().__init__(name)
        self._dim = check_positive_int("dim", dim)
        self.floor = floor
        p = self._dim
        self._tril = np.tril_indices(p, -1)
        self._Llow = self._add_parameter("Llow", Parameter(np.zeros(p * (p - 1) // 2)))
        self._Llogd = self._add_parameter("Llogd", Parameter(np.zeros(p), bounds=(-50.0, 50.0)))
        self._L_cache: tuple[int, int, NDArray[np.float64]] | None = None

    @property
    def dim(self) -> int:
        """p, the dimension of ``C`` (p × p)."""
        return self._dim

    @property
    def shape(self) -> tuple[int, int]:
        """``(p, p)``, the shape of ``C``."""
        return (self._dim, self._dim)

    @property
    def floor(self) -> float | NDArray[np.float64]:
        """The ridge f added to the diagonal (same units as ``C``): a number, or one
        value per trait."""
        return self._floor

    @floor.setter
    def floor(self, value: float | ArrayLike) -> None:
        arr = np.asarray(value, dtype=float)
        if arr.ndim == 0:
            f = float(arr)
            if not np.isfinite(f) or f < 0:
                raise ValueError(f"floor must be a finite number ≥ 0, got {value!r}")
            self._floor: float | NDArray[np.float64] = f
            self._floor_diag: NDArray[np.float64] | None = None
            return
        if arr.shape != (self._dim,) or not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(
                f"floor must be a number or {self._dim} finite numbers ≥ 0 (one per trait), "
                f"got shape {arr.shape}"
            )
        arr = arr.copy()
        arr.setflags(write=False)
        self._floor = arr
        self._floor_diag = None

    def _floor_matrix(self) -> NDArray[np.float64]:
        return self._floor_diagonal().copy()

    def _floor_diagonal(self) -> NDArray[np.float64]:
        """``diag(f)``, built once per floor (the floor setter clears it; absent in objects
        pickled before it existed)."""
        diag = getattr(self, "_floor_diag", None)
        if diag is None:
            diag = np.diag(np.broadcast_to(np.asarray(self._floor, dtype=float), (self._dim,)))
            self._floor_diag = diag
        return diag

    def _factor(self) -> NDArray[np.float64]:
        """``L``, built once per parameter version (read-only: callers must not write)."""
        low, logd = self._Llow, self._Llogd
        cache = getattr(self, "_L_cache", None)  # absent in objects pickled before it existed
        if cache is None or cache[0] != low.version or cache[1] != logd.version:
            L = np.zeros((self._dim, self._dim))
            L[self._tril] = low.value
            L.flat[:: self._dim + 1] = np.exp(logd.value)
            L.setflags(write=False)
            self._L_cache = cache = (low.version, logd.version, L)
        return cache[2]

    # ---- L views ---------------------------------------------------------------------
    @property
    def L(self) -> NDArray[np.float64]:
        """The lower-triangular factor ``L`` (p × p, positive diagonal)."""
        return self._factor().copy()

    @L.setter
    def L(self, value: ArrayLike) -> None:
        L = as_matrix("L", value, nrows=self._dim, ncols=self._dim, allow_vector=False)
        upper = np.argwhere(np.triu(L, 1) != 0)
        if upper.size:
            i, j = (int(v) for v in upper[0])
            raise ValueError(
                f"L ({L.shape[0]}×{L.shape[1]}) must be lower triangular, but L[{i}, {j}] = "
                f"{L[i, j]!r} lies above the diagonal ({len(upper)} such entries)"
            )
        d = np.diag(L)
        if np.any(d == 0):
            raise ValueError("L must have a non-zero diagonal (C would be singular)")
        # C = L Lᵀ is unchanged when a column of L changes sign: make the diagonal positive.
        L = L * np.sign(d)[None, :]
        self._Llow.set(L[self._tril])
        self._Llogd.set(np.log(np.abs(d)))

    @property
    def Lu(self) -> NDArray[np.float64]:
        """glimix-core's flat parameters: ``[Llow, Llogd]`` (strictly-lower entries of
        ``L`` row by row, then the logarithms of its diagonal)."""
        return np.concatenate([self._Llow.value, self._Llogd.value])

    @Lu.setter
    def Lu(self, value: ArrayLike) -> None:
        value = np.asarray(value, float).ravel()
        k = self._dim * (self._dim + 1) // 2
        if value.size != k:
            raise ValueError(
                f"Lu has {value.size} entries, expected p(p+1)/2 = {k}: the p(p−1)/2 "
                "strictly-lower entries of L followed by the p logarithms of its diagonal"
            )
        m = k - self._dim
        self._Llow.set(value[:m])
        self._Llogd.set(value[m:])

    @property
    def max_rank(self) -> int:
        """p: C is always of full rank."""
        return self._dim

    def logdet(self) -> float:
        """``log|C|``."""
        return float(np.linalg.slogdet(self.value())[1])

    def unit_scaling(
        self, d: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(scale, shift)`` of the free flat parameters for trait units ``d``:
        ``diag(d)·L`` is the factor of ``diag(d) C diag(d)`` (the floor aside)."""
        d = np.asarray(d, dtype=float)
        rows = self._tril[0]
        per = {
            "Llow": (d[rows], np.zeros(rows.size)),
            "Llogd": (np.ones(self._dim), np.log(d)),
        }
        free = [k for k, p in self._parameters.items() if not p.fixed]
        if not free:
            return np.empty(0), np.empty(0)
        return np.concatenate([per[k][0] for k in free]), np.concatenate([per[k][1] for k in free])

    def unit_bounds(self) -> list[tuple[float, float]]:
        """``Llow`` unbounded; the log-diagonal within ±20 (a factor e²⁰ ≈ 5·10⁸ around
        the trait's standard deviation)."""
        out: list[tuple[float, float]] = []
        for k, p in self._parameters.items():
            if p.fixed:
                continue
            bound = (-np.inf, np.inf) if k == "Llow" else (-20.0, 20.0)
            out.extend([bound] * p.size)
        return out

    def set_value(self, C: ArrayLike, name: str = "C") -> None:
        """Set ``L`` so that ``value()`` equals ``C`` (needs ``C − diag(f)`` positive
        definite)."""
        C = check_square_symmetric(name, C, size=self._dim)
        try:
            self.L = np.linalg.cholesky(C - self._floor_matrix())
        except np.linalg.LinAlgError:
            raise ValueError(
                f"{name} minus the floor is not positive definite; smallest eigenvalue of "
                f"{name}: {np.linalg.eigvalsh(C)[0]:.3g}"
            ) from None

    # ---- value and gradient ----------------------------------------------------------------
    def value(self) -> NDArray[np.float64]:
        """``C = L Lᵀ + diag(f)`` (p × p, positive definite)."""
        L = self._factor()
        return L @ L.T + self._floor_diagonal()

    def _own_aliases(self) -> dict[str, tuple[str, ...]]:
        return {"Lu": ("Llow", "Llogd")}

    def _own_gradient(self) -> dict[str, NDArray[np.float64]]:
        L = self.L
        full = dLLt_dL(L)  # (p, p, p, p)
        p = self._dim
        low = full[:, :, self._tril[0], self._tril[1]]
        diag = full[:, :, np.arange(p), np.arange(p)] * np.diag(L)[None, None, :]
        return {"Llow": low, "Llogd": diag}

    def contract_gradient(self, M: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """Return ``Σᵢⱼ M[i, j] ∂C[i, j]/∂θ`` for each free parameter θ.

        This is the chain rule for a scalar ``f(C)`` with ``df = tr(Mᵀ dC)``: it costs
        O(p³) and never forms the (p, p, #θ) gradient array.
        """
        M = np.asarray(M, float)
        L = self._factor()
        dL = (M + M.T) @ L  # ∂f/∂L for C = L Lᵀ
        out = {"Llow": dL[self._tril], "Llogd": dL.diagonal() * L.diagonal()}
        return {k: v for k, v in out.items() if not self._parameters[k].fixed}

    def _repr_fields(self) -> str:
        f = self._floor
        text = f"{f:g}" if isinstance(f, float) else np.array2string(f, precision=3)
        return f"dim={self._dim}, floor={text}"
