"""Per-group contributions to the GRM (e.g. per chromosome), from one pass over the ``.bed``.

With ``Z`` the standardised dosages of the ``m`` variable variants (standardised exactly as
for :func:`kronlmm.io.grm_from_genotypes`) split into groups ``g`` of ``m_g`` columns
``Z_g``, the GRM of every variant is ``K = Σ_g S_g / m`` with ``S_g = Z_g Z_gᵀ``, and the GRM
of every variant *outside* group ``g`` — a leave-one-chromosome-out (LOCO) kinship — is

    K₋g = (Σ_h S_h − S_g) / (m − m_g).

:func:`grm_by_group` reads the variants once (the same blocked reader thread and symmetric
rank-b updates as :func:`~kronlmm.io.grm_from_genotypes`) and keeps either each ``S_g``
(``n × n`` per group) or, with ``factor=True``, the columns of ``Z`` themselves with their
group (``n × m``: cheaper when ``m`` is not above ``n``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg.blas import dsyrk

from .grm import ProgressCallback, _fill_upper, _selected_ids, _standardized_blocks
from .plink import IndexLike, PlinkGenotypes, _positions

__all__ = ["GroupedGRM", "grm_by_group"]

logger = logging.getLogger("kronlmm")


@dataclass(eq=False)
class GroupedGRM:
    """The GRM contributions of groups of variants (see the module notes for the formulas).

    Attributes
    ----------
    ids : numpy.ndarray
        Sample IDs of the rows (and columns).
    groups : list of str
        Group labels, in order of first appearance among the selected variants.
    n_variants : numpy.ndarray of int
        ``m_g``: variable variants of each group (used).
    n_monomorphic : numpy.ndarray of int
        Variants of each group skipped because they do not vary among the samples.
    sums : list of numpy.ndarray or None
        ``S_g = Z_g Z_gᵀ`` (``n × n``, not divided by anything) per group; ``None`` when
        built with ``factor=True``. An entry is ``None`` once released (:meth:`release`).
    Z : numpy.ndarray or None
        With ``factor=True``: the ``n × m`` standardised columns, Fortran order.
    column_group : numpy.ndarray of int or None
        With ``factor=True``: the group (index into :attr:`groups`) of each column of ``Z``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.io import PlinkGenotypes, grm_by_group, grm_from_genotypes
    >>> geno = PlinkGenotypes(example_paths().prefix)
    >>> rows = slice(0, 60)
    >>> parts = grm_by_group(geno, geno.variants["chrom"], sample_index=rows)
    >>> parts.groups, parts.n_variants.tolist()
    (['1', '2', '3'], [988, 988, 993])
    >>> others = geno.variants["chrom"].to_numpy() != "2"
    >>> without_2 = grm_from_genotypes(geno, rows, variant_index=others)
    >>> bool(np.allclose(parts.kinship_without(1), without_2.K, rtol=0, atol=1e-12))
    True
    """

    ids: NDArray[np.object_]
    groups: list[str]
    n_variants: NDArray[np.int64]
    n_monomorphic: NDArray[np.int64]
    sums: list[NDArray[np.float64] | None] | None = None
    Z: NDArray[np.float64] | None = None
    column_group: NDArray[np.intp] | None = None

    @property
    def m(self) -> int:
        """Variable variants in all groups."""
        return int(self.n_variants.sum())

    def _check_group(self, g: int) -> None:
        if not 0 <= g < len(self.groups):
            raise IndexError(f"group index {g} out of range for {len(self.groups)} group(s)")
        if self.m - int(self.n_variants[g]) == 0:
            raise ValueError(
                f"no variable variant outside group {self.groups[g]!r}: every one of the {self.m} "
                "variable variants is in it, so the GRM without it is empty"
            )

    def total(self) -> NDArray[np.float64]:
        """``Σ_g S_g`` (``n × n``, a new array; sums only)."""
        if self.sums is None:
            raise ValueError("built with factor=True: use Z and column_group")
        if any(S is None for S in self.sums):
            raise ValueError("a group's sum was released; total() is no longer available")
        n = self.ids.size
        out = np.zeros((n, n), dtype=np.float64, order="F")
        for S in self.sums:
            assert S is not None
            out += S
        return out

    def kinship_without(
        self, g: int, total: NDArray[np.float64] | None = None, *, release: bool = False
    ) -> NDArray[np.float64]:
        """``K₋g = (Σ_h S_h − S_g) / (m − m_g)``: the GRM of the variants outside group ``g``.

        Parameters
        ----------
        g : int
            Group index (into :attr:`groups`).
        total : numpy.ndarray, optional
            ``Σ_h S_h`` if already computed (:meth:`total`), to save the sum.
        release : bool, default False
            Compute ``K₋g`` in the memory of ``S_g`` and drop ``S_g`` from :attr:`sums`
            (saves ``n²`` values per group when each LOCO kinship is needed once).

        Returns
        -------
        numpy.ndarray
            ``n × n``.

        Raises
        ------
        ValueError
            If every variable variant is in group ``g`` (``K₋g`` would be empty).
        """
        self._check_group(g)
        if self.sums is None:
            G = self.factor_without(g)
            return G @ G.T
        S = self.sums[g]
        if S is None:
            raise ValueError(f"the sum of group {self.groups[g]!r} was released")
        tot = self.total() if total is None else total
        out = S if release else S.copy(order="K")
        out *= -1.0
        out += tot
        out *= 1.0 / (self.m - int(self.n_variants[g]))
        if release:
            self.sums[g] = None
        return out

    def factor_without(self, g: int) -> NDArray[np.float64]:
        """``G₋g = Z₋g / √(m − m_g)`` with ``G₋g G₋gᵀ = K₋g`` (``factor=True`` only; a new
        ``n × (m − m_g)`` array)."""
        self._check_group(g)
        if self.Z is None or self.column_group is None:
            raise ValueError("built as sums (factor=False): use kinship_without")
        cols = np.flatnonzero(self.column_group != g)
        G = np.asarray(self.Z[:, cols], order="F")
        G *= 1.0 / np.sqrt(cols.size)
        return G


def _runs(labels: NDArray[np.intp]) -> list[tuple[int, NDArray[np.intp] | slice]]:
    """``(group, columns)`` of each group present among ``labels``: a slice when the
    group's columns are contiguous (the usual case: a ``.bim`` sorted by chromosome)."""
    out: list[tuple[int, NDArray[np.intp] | slice]] = []
    for g in np.unique(labels):
        cols = np.flatnonzero(labels == g)
        if cols[-1] - cols[0] + 1 == cols.size:
            out.append((int(g), slice(int(cols[0]), int(cols[-1]) + 1)))
        else:
            out.append((int(g), cols))
    return out


def grm_by_group(
    plink: PlinkGenotypes,
    groups: ArrayLike,
    sample_index: IndexLike = None,
    block_size: int | None = None,
    *,
    variant_index: IndexLike = None,
    progress: ProgressCallback | None = None,
    factor: bool = False,
) -> GroupedGRM:
    """The GRM contribution of each group of variants, from one pass over the genotypes.

    Parameters
    ----------
    plink : PlinkGenotypes
        Genotype source.
    groups : array-like
        A label per selected variant (e.g. its chromosome; ``str(label)`` names the group),
        in the order of ``variant_index`` — or one per ``.bim`` variant when
        ``variant_index`` is ``None``.
    sample_index : slice, int array, bool mask or None
        Samples (``.fam`` positions) in the order wanted; ``None`` means all. Allele
        frequencies are those of these samples.
    block_size : int, optional
        Variants read at a time; default :func:`kronlmm.io.grm_block_size`.
    variant_index : slice, int array, bool mask or None
        Variants to use; ``None`` means all.
    progress : callable, optional
        Called as ``progress(done, total)`` (variants) after each block.
    factor : bool, default False
        Keep the standardised columns ``Z`` (``n × m``) and their groups instead of one
        ``n × n`` sum per group.

    Returns
    -------
    GroupedGRM

    Raises
    ------
    ValueError
        If ``groups`` does not have one label per selected variant, or no selected variant
        varies among the selected samples.

    Notes
    -----
    Each block of standardised columns is split by group (slices when a group's columns are
    contiguous) and each part added to its group's sum in place by a symmetric rank-b update
    (BLAS syrk, lower triangle; the upper one is copied once at the end): n²·m flops in all,
    as for one GRM, the next block being read meanwhile. Memory: ``G`` ``n × n`` arrays for
    ``G`` groups (22 chromosomes at n = 10,000 take 18 GB), or ``n × m`` values with
    ``factor=True``, plus two blocks.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.io import PlinkGenotypes, grm_by_group, grm_from_genotypes
    >>> geno = PlinkGenotypes(example_paths().prefix)
    >>> parts = grm_by_group(geno, geno.variants["chrom"], sample_index=slice(0, 40))
    >>> genome = grm_from_genotypes(geno, sample_index=slice(0, 40))
    >>> bool(np.allclose(parts.total() / parts.m, genome.K, rtol=0, atol=1e-12))
    True
    >>> span = slice(990, 1020)  # the end of chromosome 1, the start of chromosome 2
    >>> lowrank = grm_by_group(geno, geno.variants["chrom"][span], sample_index=slice(0, 40),
    ...                        variant_index=span, factor=True)
    >>> lowrank.groups, lowrank.n_variants.tolist(), lowrank.factor_without(0).shape
    (['1', '2'], [10, 19], (40, 19))
    """
    ids = _selected_ids(plink, sample_index)
    n = ids.size
    pos = _positions(variant_index, plink.nvariants, "variant_index")
    count = len(range(*pos.indices(plink.nvariants))) if isinstance(pos, slice) else pos.size
    raw = np.asarray(groups).astype(str)
    if raw.ndim != 1 or raw.size != count:
        raise ValueError(
            f"groups must have one label per selected variant ({count}), got shape {raw.shape}"
        )
    names, first, label = np.unique(raw, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # groups in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    label = rank[label.ravel()].astype(np.intp)
    names = names[order]
    k = names.size
    used = np.zeros(k, dtype=np.int64)
    skipped = np.zeros(k, dtype=np.int64)
    sums: list[NDArray[np.float64] | None] | None = None
    started = np.zeros(k, dtype=bool)
    Z: NDArray[np.float64] | None = None
    column_group: NDArray[np.intp] | None = None
    if factor:
        Z = np.empty((n, count), dtype=np.float64, order="F")
        column_group = np.empty(count, dtype=np.intp)
    else:  # Fortran order: BLAS updates them in place
        sums = [np.empty((n, n), dtype=np.float64, order="F") for _ in range(k)]
    cursor = ncols = 0
    blocks = _standardized_blocks(plink, sample_index, block_size, variant_index, n, progress)
    for z, variable in blocks:
        block_labels = label[cursor : cursor + variable.size]
        cursor += variable.size
        kept = block_labels[variable]
        used += np.bincount(kept, minlength=k)
        skipped += np.bincount(block_labels[~variable], minlength=k)
        if Z is not None and column_group is not None:
            Z[:, ncols : ncols + z.shape[1]] = z
            column_group[ncols : ncols + z.shape[1]] = kept
            ncols += z.shape[1]
            continue
        assert sums is not None
        for g, cols in _runs(kept):
            S = sums[g]
            assert S is not None
            # S_g ← Z_g Z_gᵀ + S_g in place, lower triangle only (BLAS syrk; the first
            # update overwrites: no zero-filled n × n array, no product buffer)
            dsyrk(1.0, z[:, cols], beta=1.0 if started[g] else 0.0, c=S, lower=1, overwrite_c=1)
            started[g] = True
    if used.sum() == 0:
        raise ValueError(
            f"no variable variant to build the GRM from ({int(skipped.sum())} monomorphic "
            f"variant(s) among {n} samples)"
        )
    if sums is not None:
        for g, S in enumerate(sums):
            assert S is not None
            if started[g]:
                _fill_upper(S)
            else:
                S.fill(0.0)
    if Z is not None and column_group is not None:
        Z, column_group = Z[:, :ncols], column_group[:ncols]
    logger.info(
        "GRM contributions of %d group(s) from %d variant(s) and %d sample(s); %d monomorphic "
        "variant(s) skipped",
        k,
        int(used.sum()),
        n,
        int(skipped.sum()),
    )
    return GroupedGRM(
        ids=ids,
        groups=[str(x) for x in names],
        n_variants=used,
        n_monomorphic=skipped,
        sums=sums,
        Z=Z,
        column_group=column_group,
    )
