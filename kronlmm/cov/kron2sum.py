"""Kronecker-sum covariance ``K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ`` with structured linear algebra."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.linalg import EconomicSVD, economic_svd
from ..core.parameters import Gradient
from ..core.validation import as_matrix, check_positive_int
from ..core.whitening import WhitenedKron2Sum, joint_whitening
from .base import Covariance, TraitCovariance
from .free_form import FreeFormCov
from .lr_free_form import LRFreeFormCov

__all__ = ["Kron2SumCov"]

#: Largest n·p for which the dense ``value()``/``gradient()`` are formed.
DENSE_LIMIT = 20_000


def _checked_svd(svd: EconomicSVD) -> EconomicSVD:
    """Validate a decomposition passed in place of G (shapes, finiteness, S2 > 0)."""
    U = as_matrix("G.U", svd.U)
    S2 = np.asarray(svd.S2, dtype=float)
    if S2.shape != (U.shape[1],):
        raise ValueError(f"G.S2 has shape {S2.shape}, expected ({U.shape[1]},) to match G.U")
    if not np.all(np.isfinite(S2)) or np.any(S2 <= 0):
        raise ValueError("G.S2 must hold finite, strictly positive eigenvalues of GGᵀ")
    return EconomicSVD(U, S2)


class Kron2SumCov(Covariance):
    r"""Covariance ``K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ`` of ``vec(Y)`` (Y: n × p, column-major vec).

    - C₀ (p × p), child ``"C0"``: any trait covariance (:class:`TraitCovariance`); by
      default an :class:`LRFreeFormCov` ``L₀L₀ᵀ`` of rank ≤ ``rank``;
    - C₁ (p × p), child ``"C1"``: any trait covariance; by default a :class:`FreeFormCov`
      ``L₁L₁ᵀ + diag(f)`` (positive definite);
    - ``G`` (n × r) is used as given (never rescaled); an all-zero G or r = 0 means no
      ``C₀`` term (then C₀ is set to 0 and fixed).

    Besides the dense ``value()``/``gradient()`` (small n·p only), it offers ``logdet``,
    ``solve`` and ``logdet_gradient`` through the whitening of :class:`WhitenedKron2Sum`:
    after one economic SVD of G they cost O(n·k·p) or less and never form an n × n or
    np × np array.

    Parameters
    ----------
    G : array_like, shape (n, r), or EconomicSVD
        The factor G, or its decomposition ``GGᵀ = U diag(S2) Uᵀ`` when already known
        (e.g. from an eigendecomposition of a kinship matrix), which skips the SVD.
    dim : int
        p, the number of traits.
    rank : int, optional
        Number of columns of ``L₀`` (1 ≤ rank ≤ p) of the default C₀. Default 1.
    C0, C1 : TraitCovariance, optional
        The trait covariance objects (p × p); default as above.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.cov import Kron2SumCov
    >>> rng = np.random.default_rng(0)
    >>> cov = Kron2SumCov(rng.standard_normal((5, 2)), dim=2, rank=1)
    >>> cov.C0.L = [[1.0], [0.5]]
    >>> cov.C1.L = [[1.0, 0.0], [0.3, 0.8]]
    >>> K = cov.value()  # dense (n·p × n·p): only for small n·p
    >>> K.shape
    (10, 10)
    >>> bool(np.isclose(cov.logdet(), np.linalg.slogdet(K)[1]))
    True
    >>> v = rng.standard_normal(10)
    >>> bool(np.allclose(cov.solve(v), np.linalg.solve(K, v)))
    True
    >>> list(cov.gradient())
    ['C0.Lu', 'C1.Llow', 'C1.Llogd']
    >>> cov.gradient()["C1.Lu"].shape  # glimix-core's key: C1.Llow and C1.Llogd together
    (10, 10, 3)

    glimix-core's whitening views (dense, small n only): ``Lx`` (n × n) and ``Lh`` (p × p)
    with ``K⁻¹ = Lᵀ diag(D) L`` for ``L = Lh ⊗ Lx``:

    >>> L = np.kron(cov.Lh, cov.Lx)
    >>> W = L @ K @ L.T  # diagonal
    >>> bool(np.allclose(W, np.diag(np.diag(W))))
    True
    """

    def __init__(
        self,
        G: ArrayLike | EconomicSVD,
        dim: int | None = None,
        rank: int = 1,
        *,
        C0: TraitCovariance | None = None,
        C1: TraitCovariance | None = None,
    ) -> None:
        super().__init__()
        if dim is None:
            given = C0 if C0 is not None else C1
            if given is None:
                raise ValueError("give dim (the number of traits p) or the C0/C1 objects")
            dim = given.dim
        self._dim = check_positive_int("dim", dim)
        rank = check_positive_int("rank", rank)
        if C0 is None and rank > self._dim:
            raise ValueError(f"rank must be ≤ dim (the number of traits), got {rank} > {dim}")
        for label, obj in (("C0", C0), ("C1", C1)):
            if obj is None:
                continue
            if not isinstance(obj, TraitCovariance):
                raise TypeError(
                    f"{label} must be a trait covariance object (value(), contract_gradient(), "
                    f"set_value(), unit_scaling(), …; see kronlmm.cov), got {type(obj).__name__}"
                )
            if obj.dim != self._dim:
                raise ValueError(f"{label} is {obj.dim} × {obj.dim}, expected {dim} × {dim}")
        if isinstance(G, EconomicSVD):
            self._svd = _checked_svd(G)
            self._G = self._svd.U * np.sqrt(self._svd.S2)[None, :]
        else:
            self._G = as_matrix("G", G)
            self._svd = economic_svd(self._G)
        c0 = C0 if C0 is not None else LRFreeFormCov(self._dim, rank)
        c1 = C1 if C1 is not None else FreeFormCov(self._dim)
        self.C0: Covariance = self._add_child("C0", c0)  # type: ignore[arg-type,assignment]
        self.C1: Covariance = self._add_child("C1", c1)  # type: ignore[arg-type,assignment]
        if self._svd.S2.size == 0:
            try:
                self.C0.set_value(np.zeros((self._dim, self._dim)))
            except (NotImplementedError, ValueError):
                pass
            self.C0.fix()
        self._cache_version: tuple[int | str, ...] | None = None
        self._cache: WhitenedKron2Sum | None = None
        self._Lx: NDArray[np.float64] | None = None

    # ---- data views ------------------------------------------------------------------------
    @property
    def G(self) -> NDArray[np.float64]:
        """The factor ``G`` (n × r) of the genetic similarity ``GGᵀ``, as given."""
        return self._G

    @property
    def nsamples(self) -> int:
        """n, the number of samples (rows of ``G``)."""
        return int(self._G.shape[0])

    @property
    def dim(self) -> int:
        """n·p, the dimension of K."""
        return self.nsamples * self._dim

    @property
    def ntraits(self) -> int:
        """p, the number of traits (the dimension of C₀ and C₁)."""
        return self._dim

    @property
    def rank(self) -> int:
        """Maximum rank of C₀ (the number of columns of ``L₀`` for the default C₀)."""
        return int(self.C0.max_rank)

    @property
    def svd(self) -> EconomicSVD:
        """``GGᵀ = U diag(S2) Uᵀ`` (computed once at construction)."""
        return self._svd

    @property
    def Ge(self) -> NDArray[np.float64]:
        """``U diag(√S2)``: a full-column-rank factor with ``Ge Geᵀ = GGᵀ``."""
        return self._svd.U * np.sqrt(self._svd.S2)[None, :]

    def whitened(self) -> WhitenedKron2Sum:
        """The whitening at the current parameters (cached until a parameter changes)."""
        version = self.version + (repr(getattr(self.C1, "floor", None)),)
        if self._cache is None or self._cache_version != version:
            wh = joint_whitening(self.C0.value(), self.C1.value())
            self._cache = WhitenedKron2Sum(self._svd.S2, self.nsamples, wh)
            self._cache_version = version
        return self._cache

    # ---- dense -----------------------------------------------------------------------------
    def _check_dense(self) -> None:
        if self.dim > DENSE_LIMIT:
            raise ValueError(
                f"the dense K would be {self.dim} × {self.dim} (n·p = {self.dim} > "
                f"{DENSE_LIMIT}); use solve(), logdet() and logdet_gradient() instead"
            )

    def value(self) -> NDArray[np.float64]:
        """The dense ``K = C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ`` (n·p × n·p).

        Only for small problems: raises ValueError when n·p exceeds ``DENSE_LIMIT``
        (20 000); use :meth:`solve`, :meth:`logdet` and :meth:`logdet_gradient` instead.
        """
        self._check_dense()
        n = self.nsamples
        return np.kron(self.C0.value(), self._G @ self._G.T) + np.kron(self.C1.value(), np.eye(n))

    def gradient(self) -> dict[str, NDArray[np.float64]]:
        """``∂K/∂θ`` (n·p × n·p × θ.size) for every free θ (dense; small n·p only).

        Keys are the dotted parameter names (``"C0.Lu"``, ``"C1.Llow"``, ``"C1.Llogd"``
        for the defaults); glimix-core's ``"C1.Lu"`` can be read too (:class:`Gradient`).
        """
        self._check_dense()
        n = self.nsamples
        K = self._G @ self._G.T
        out = Gradient(aliases=self.gradient_aliases())
        for cname, kmat in (("C0", K), ("C1", np.eye(n))):
            for pname, g in self._children[cname].gradient().items():
                # g: (p, p, q) → kron(g[..., j], kmat) for every j, shape (np, np, q)
                q = g.shape[-1]
                full = np.einsum("abq,ij->aibjq", g, kmat).reshape(self.dim, self.dim, q)
                out[f"{cname}.{pname}"] = full
        return out

    # ---- structured ------------------------------------------------------------------------
    def logdet(self) -> float:
        """``log|K| = Σᵢₜ log(1 + S2ᵢ λₜ) + n·log|C₁|``."""
        return self.whitened().logdet

    def solve(self, v: ArrayLike) -> NDArray[np.float64]:
        """``K⁻¹ v`` for ``v`` of shape (n·p,) or (n·p, m), in O(n·k·p·m).

        With ``Ỹ = UᵀY Lhᵀ`` for ``vec(Y) = v``:
        ``K⁻¹ vec(Y) = vec([U(Ỹ / D − Ỹ / λ₁) + Y Lhᵀ / λ₁] Lh)``.
        """
        v = np.asarray(v, dtype=float)
        squeeze = v.ndim == 1
        V = v[:, None] if squeeze else v
        n, p = self.nsamples, self._dim
        if V.ndim != 2 or V.shape[0] != n * p:
            raise ValueError(f"v has shape {v.shape}, expected ({n * p},) or ({n * p}, m)")
        m = V.shape[1]
        wt = self.whitened()
        U = self._svd.U
        Y = V.reshape(p, n, m).transpose(1, 0, 2)  # Y[:, t, j] is trait t of column j
        YL = np.einsum("itj,st->isj", Y, wt.Lh)  # Y Lhᵀ
        Yt = np.einsum("ik,isj->ksj", U, YL)  # Uᵀ Y Lhᵀ (k, p, m)
        il1 = wt.inv_lam1[None, :, None]
        inner = U @ ((Yt / wt.D[:, :, None] - Yt * il1).reshape(U.shape[1], p * m))
        Z = inner.reshape(n, p, m) + YL * il1
        out = np.einsum("isj,st->itj", Z, wt.Lh)
        out = out.transpose(1, 0, 2).reshape(n * p, m)
        result: NDArray[np.float64] = out[:, 0] if squeeze else out
        return result

    def trait_gradient(
        self, M0: NDArray[np.float64], M1: NDArray[np.float64]
    ) -> dict[str, NDArray[np.float64]]:
        """Chain rule from trait-level matrices to the free parameters.

        Returns ``Σᵢⱼ M0[i,j] ∂C₀[i,j]/∂θ + Σᵢⱼ M1[i,j] ∂C₁[i,j]/∂θ`` for every free θ,
        keyed by dotted name (e.g. ``"C0.Lu"``).
        """
        out = Gradient(
            {f"C0.{k}": v for k, v in self.C0.contract_gradient(M0).items()},
            self.gradient_aliases(),
        )
        out.update({f"C1.{k}": v for k, v in self.C1.contract_gradient(M1).items()})
        return out

    def flat_trait_gradient(
        self, M0: NDArray[np.float64], M1: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """:meth:`trait_gradient` as one vector in flat-parameter order (that of
        :meth:`get_flat`): what an optimiser needs, without the named dictionary."""
        parts: list[NDArray[np.float64]] = []
        for child, M in ((self.C0, M0), (self.C1, M1)):
            g = child.contract_gradient(M)
            parts.extend(np.asarray(g[k], dtype=float).ravel() for k in child.free_parameters())
        return np.concatenate(parts) if parts else np.empty(0)

    def contract_gradient(self, M: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """``Σ M[u, v] ∂K[u, v]/∂θ`` for an (n·p × n·p) matrix M (dense; small n·p only).

        Reduces M to trait level, ``M0[a, b] = Σᵢⱼ M[(a,i),(b,j)] (GGᵀ)ᵢⱼ`` and
        ``M1[a, b] = Σᵢ M[(a,i),(b,i)]``, then applies :meth:`trait_gradient`.
        """
        n, p = self.nsamples, self._dim
        M4 = np.asarray(M, float).reshape(p, n, p, n)
        M0 = np.einsum("aibj,ij->ab", M4, self._G @ self._G.T)
        M1 = np.einsum("aibi->ab", M4)
        return self.trait_gradient(M0, M1)

    def logdet_gradient(self) -> dict[str, NDArray[np.float64]]:
        """``∂ log|K| / ∂θ = tr(K⁻¹ ∂K/∂θ)`` for each free θ, in O(k·p + p³).

        ``tr(K⁻¹ dK) = tr(dC₀ Lhᵀ diag(w₀) Lh) + tr(dC₁ Lhᵀ diag(w₁) Lh)`` with
        ``w₀ₜ = Σᵢ S2ᵢ / Dᵢₜ`` and ``w₁ₜ = Σᵢ 1 / Dᵢₜ + (n − k)/λ₁ₜ``.
        """
        wt = self.whitened()
        w0, w1 = wt.trace_weights(self._svd.S2)
        Lh = wt.Lh
        return self.trait_gradient(Lh.T @ (w0[:, None] * Lh), Lh.T @ (w1[:, None] * Lh))

    # ---- glimix-core's whitening views (dense; small problems) ----------------------------
    @property
    def Lx(self) -> NDArray[np.float64]:
        """glimix-core's ``Lₓ = Uₓᵀ`` (n × n, orthogonal): the eigenvectors of GGᵀ as rows,
        those of its non-zero eigenvalues first (in the order of ``svd``), then a basis of
        its null space, so that ``Lₓ GGᵀ Lₓᵀ`` is diagonal. Dense: small n only."""
        self._check_dense()
        if self._Lx is None:
            U = self._svd.U
            n, k = U.shape
            if k < n:
                Q = np.linalg.qr(U, mode="complete")[0]
                U = np.hstack([U, Q[:, k:]])
            self._Lx = np.ascontiguousarray(U.T)
        return self._Lx

    @property
    def Lh(self) -> NDArray[np.float64]:
        """glimix-core's ``Lₕ`` (p × p): ``Lₕ C₁ Lₕᵀ = I`` and ``Lₕ C₀ Lₕᵀ = diag(Sₕ)``
        (ascending), i.e. ``Uₕᵀ S₁^{-½} U₁ᵀ`` for ``C₁ = U₁S₁U₁ᵀ``. Needs C₁ positive
        definite (raises ValueError otherwise)."""
        wt = self.whitened()
        if np.any(wt.lam1 <= 0):
            raise ValueError(
                "Lh (with Lh C1 Lhᵀ = I) is not defined: C1 is singular at the current parameters"
            )
        return wt.Lh / np.sqrt(wt.lam1)[:, None]

    def _dense_trait_gradients(self) -> dict[str, tuple[str, NDArray[np.float64]]]:
        """``{dotted name: (child, ∂C/∂θ of shape (p, p, q))}`` for every free θ."""
        out: dict[str, tuple[str, NDArray[np.float64]]] = {}
        for cname in ("C0", "C1"):
            for pname, g in self._children[cname].gradient().items():
                out[f"{cname}.{pname}"] = (cname, np.asarray(g, dtype=float))
        return out

    def _unvec(self, v: ArrayLike, name: str) -> tuple[NDArray[np.float64], bool]:
        """``v`` (n·p,) or (n·p, m) as an array V[t, i, j] = v[t·n + i, j] (trait t)."""
        v = np.asarray(v, dtype=float)
        n, p = self.nsamples, self._dim
        if v.ndim not in (1, 2) or v.shape[0] != n * p:
            raise ValueError(f"{name} has shape {v.shape}, expected ({n * p},) or ({n * p}, m)")
        squeeze = v.ndim == 1
        V = (v[:, None] if squeeze else v).reshape(p, n, -1)
        return V, squeeze

    def gradient_dot(self, v: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """glimix-core's ``∂K·v`` for every free θ, without forming ∂K.

        With ``vec(V) = v`` (V: n × p): ``(∂C₀ ⊗ GGᵀ) v = vec(GGᵀ V ∂C₀)`` and
        ``(∂C₁ ⊗ Iₙ) v = vec(V ∂C₁)``, for each entry of θ.

        Parameters
        ----------
        v : array_like, shape (n·p,) or (n·p, m)

        Returns
        -------
        Gradient
            Per free θ, an array of shape (n·p, θ.size) for a vector v, and — as in
            glimix-core — (m, n·p, θ.size) for an (n·p, m) array (``out[j, :, i]`` is
            ``∂K/∂θᵢ · v[:, j]``). Answers glimix-core's ``"C1.Lu"`` too.
        """
        V, squeeze = self._unvec(v, "v")
        Ge = self.Ge
        GGV = np.einsum("ik,tkj->tij", Ge, np.einsum("ik,tij->tkj", Ge, V))
        out = Gradient(aliases=self.gradient_aliases())
        for key, (cname, g) in self._dense_trait_gradients().items():
            W = GGV if cname == "C0" else V
            r = np.einsum("stq,sij->jtiq", g, W)  # Σₛ W[s, i, j] ∂C[s, t]
            r = r.reshape(r.shape[0], -1, g.shape[-1])
            out[key] = r[0] if squeeze else r
        return out

    def LdKL_dot(self, v: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """glimix-core's ``L (∂K) Lᵀ v`` with ``L = Lₕ ⊗ Lₓ`` (see :attr:`Lx`, :attr:`Lh`).

        ``L(∂C₀ ⊗ GGᵀ)Lᵀ = (Lₕ∂C₀Lₕᵀ) ⊗ diag(Sₓ)`` (``Sₓ``: the eigenvalues of GGᵀ in
        the order of Lₓ's rows, zeros for its null space) and
        ``L(∂C₁ ⊗ Iₙ)Lᵀ = (Lₕ∂C₁Lₕᵀ) ⊗ Iₙ``, applied to ``vec(V) = v``.

        Parameters
        ----------
        v : array_like, shape (n·p,) or (n·p, m)

        Returns
        -------
        Gradient
            Per free θ, an array of shape ``v.shape + (θ.size,)``; answers ``"C1.Lu"``.
        """
        V, squeeze = self._unvec(v, "v")
        n = self.nsamples
        Lh = self.Lh
        Sx = np.zeros(n)
        Sx[: self._svd.S2.size] = self._svd.S2
        out = Gradient(aliases=self.gradient_aliases())
        for key, (cname, g) in self._dense_trait_gradients().items():
            H = np.einsum("as,stq,bt->abq", Lh, g, Lh)  # Lₕ ∂C Lₕᵀ (symmetric)
            r = np.einsum("atq,tij->aijq", H, V)  # [Lₕ∂CLₕᵀ ⊗ I] v, trait a
            if cname == "C0":
                r = r * Sx[None, :, None, None]
            r = r.reshape(-1, r.shape[2], r.shape[3])
            out[key] = r[:, 0, :] if squeeze else r
        return out

    def _repr_fields(self) -> str:
        n, r = self._G.shape
        return f"G: {n}×{r} (k={self._svd.S2.size}), dim={self._dim}, rank={self.rank}"
