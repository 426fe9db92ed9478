"""Leave-one-chromosome-out (LOCO) null models: one kinship and one fitted null per chromosome.

With the genome-wide GRM ``K`` the variant being tested is part of the kinship (proximal
contamination), which makes the tests conservative. LOCO tests each chromosome's variants
against a null whose kinship leaves that chromosome out:

    K₋c = (Σ_all − S_c) / (m − m_c),    S_c = Z_c Z_cᵀ,

``Z_c`` the standardised dosages of the ``m_c`` variable variants of chromosome ``c`` among
the ``m`` used genome-wide (standardised exactly as for the genome-wide GRM). The model of
chromosome ``c`` is ``vec(Y) ~ N((Iₚ ⊗ X) vec(B), C₀ ⊗ K₋c + C₁ ⊗ Iₙ)``, with its own C₀,
C₁ and B.

How (:class:`LocoKinships`): one pass over the ``.bed`` accumulates every ``S_c``
(:func:`kronlmm.io.grm_by_group`); ``K = Σ_c S_c / m`` gives the genome-wide null, and each
``K₋c`` is formed in the memory of ``S_c``, eigendecomposed once (only its ``m − m_c``
largest eigenpairs when ``m − m_c < n``) and fitted from the genome-wide estimates
(``fit(start="current", restarts=0)``: see :data:`LOCO_RESTARTS`). When ``m ≤ n`` the
standardised dosages themselves are kept and ``G₋c = Z₋c / √(m − m_c)`` is the model's
factor (nothing n × n is formed). The rank of C₀ and ML/REML are those chosen for the
genome-wide null. A chromosome none of whose variants varies among the samples has
``K₋c = K``: the genome-wide null is used for it.

Memory: at most about ``(C + 5)·n²`` doubles for ``C`` chromosomes — one ``n × n`` sum per
chromosome (each turned into that chromosome's eigenvectors in turn), their total, the
genome-wide model (its eigenvectors and ``G``) and the model being fitted (22 chromosomes at
n = 2,000: 0.9 GB; at n = 10,000: 22 GB); afterwards every chromosome's null keeps only its
eigenvectors (``n × k``, about ``n²`` doubles each, :class:`LocoFit`), so ``C·n²`` doubles
stay held while the null is in use, and a scan rebuilds one chromosome's model at a time.
With ``m ≤ n``: ``n·m`` values for the dosages plus the chromosomes' factors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..core.linalg import EconomicSVD
from ..core.progress import Progress
from ..io import AlignedSamples, GroupedGRM, PlinkGenotypes, grm_by_group
from ._inputs import KinshipInfo, Prepared, _factor_from_kinship
from .output import jsonable
from .progress_log import phase_progress
from .timing import stage

if TYPE_CHECKING:
    from ..core.optimize import FitResult
    from ..lmm import Kron2Sum

__all__ = ["LocoFit", "LocoKinships", "check_loco_kinship"]

logger = logging.getLogger("kronlmm")

LOCO_RESTARTS = 0
"""Extra starts of each chromosome's fit (:meth:`kronlmm.lmm.Kron2Sum.fit`'s ``restarts``):
none, the fit starts at the genome-wide optimum, whose own fit already compared several
starts; leaving one chromosome out moves the optimum only a little. The escapes from the
boundary of the covariance cone still run."""


def check_loco_kinship(kinship: object) -> None:
    """Refuse ``loco=True`` with anything but the GRM of the genotypes (``kinship="grm"``).

    LOCO kinships are built from the genotypes, chromosome by chromosome: a given kinship
    matrix (a file or a :class:`~kronlmm.io.Kinship`) cannot be split by chromosome, and
    without a kinship there is nothing to leave out.

    Examples
    --------
    >>> from kronlmm.gwas.loco import check_loco_kinship
    >>> check_loco_kinship("grm")
    >>> check_loco_kinship("my.sXX.txt")
    Traceback (most recent call last):
        ...
    ValueError: leave-one-chromosome-out (--loco / loco=True) builds one kinship per chromosome ...
    """
    if isinstance(kinship, str) and kinship == "grm":
        return
    what = "no kinship" if kinship is None else f"the given kinship {_describe(kinship)}"
    raise ValueError(
        "leave-one-chromosome-out (--loco / loco=True) builds one kinship per chromosome "
        f"from the genotypes, so it cannot be used with {what}; use --kinship grm "
        "(kinship='grm') with --loco, or leave --loco out to use that kinship for every "
        "chromosome"
    )


def _describe(kinship: object) -> str:
    from ..io import Kinship

    return "(a Kinship object)" if isinstance(kinship, Kinship) else repr(str(kinship))


@dataclass(eq=False)
class LocoFit:
    """The null model of one chromosome's scan, fitted with the kinship of the others.

    Only the kinship's decomposition and the estimates are kept: :meth:`model` rebuilds the
    fitted :class:`~kronlmm.lmm.Kron2Sum` when it is needed (a fitted model also holds the
    factor ``G = U·√λ``, a second ``n × k`` array, so keeping every chromosome's model would
    double the memory held).

    Attributes
    ----------
    chrom : str
        The chromosome (``.bim`` column 1) left out of the kinship and scanned.
    fit : kronlmm.lmm.FitResult
        What its optimiser did (started from the genome-wide estimates).
    kinship : KinshipInfo
        How its kinship was obtained (``n_variants``: the variants of the other
        chromosomes).
    variant_index : numpy.ndarray
        ``.bim`` positions of the chromosome's variants to scan (those passing the filters).
    left_out : int
        Variable variants of the chromosome left out of the kinship (``m_c``); 0 when none
        varies, in which case the genome-wide null is used.
    C0, C1 : numpy.ndarray
        The fitted trait covariances (p × p).
    lml : float
        Its (restricted) log-likelihood at the optimum.
    factor : numpy.ndarray or EconomicSVD
        ``G₋c`` or the decomposition of ``K₋c``, what the model is built on.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import fit_null
    >>> paths = example_paths()
    >>> null = fit_null(paths.prefix, paths.pheno, covar=paths.covar, loco=True)
    >>> fit = null.loco[0]
    >>> fit.chrom, fit.left_out, fit.kinship.n_variants, null.kinship.n_variants
    ('1', 992, 1978, 2970)
    >>> fit.converged, fit.C0.shape
    (True, (3, 3))
    >>> model = fit.model()  # rebuilt at the estimates
    >>> bool(abs(model.lml() - fit.lml) < 1e-9 * abs(fit.lml))
    True
    >>> sorted(fit.to_dict())[:3]
    ['C0', 'C1', 'chrom']
    """

    chrom: str
    fit: FitResult
    kinship: KinshipInfo
    variant_index: NDArray[np.intp]
    left_out: int
    C0: NDArray[np.float64]
    C1: NDArray[np.float64]
    lml: float
    factor: NDArray[np.float64] | EconomicSVD | None = field(default=None, repr=False)
    Y: NDArray[np.float64] | None = field(default=None, repr=False)
    X: NDArray[np.float64] | None = field(default=None, repr=False)
    rank: int = 0
    restricted: bool = False
    genome: Kron2Sum | None = field(default=None, repr=False)

    @property
    def converged(self) -> bool:
        """Whether the chromosome's null fit converged."""
        return bool(self.fit.success)

    def model(self) -> Kron2Sum:
        """The fitted null of this chromosome: a :class:`~kronlmm.lmm.Kron2Sum` on
        :attr:`factor` set to :attr:`C0`, :attr:`C1` (a new one at each call; the
        genome-wide model itself when the chromosome changes nothing)."""
        if self.genome is not None:
            return self.genome
        from ..lmm import Kron2Sum

        if self.factor is None or self.Y is None or self.X is None:
            raise ValueError(f"the null of chromosome {self.chrom} holds no kinship factor")
        p = self.Y.shape[1]
        model = Kron2Sum(
            self.Y, np.eye(p), self.X, self.factor, rank=self.rank, restricted=self.restricted
        )
        model.set_start(C0=self.C0, C1=self.C1)
        return model

    def to_dict(self) -> dict[str, Any]:
        """The chromosome's null as plain JSON-ready values (C₀, C₁ as nested lists)."""
        out: dict[str, Any] = jsonable(
            {
                "chrom": self.chrom,
                "n_scanned": int(self.variant_index.size),
                "kinship_variants": self.kinship.n_variants,
                "left_out_variants": self.left_out,
                "kinship_method": self.kinship.method,
                "kinship_rank": self.kinship.rank,
                "lml": self.lml,
                "converged": self.converged,
                "message": self.fit.message,
                "iterations": self.fit.niter,
                "C0": self.C0,
                "C1": self.C1,
            }
        )
        return out


class LocoKinships:
    """Builds the genome-wide genetic factor and keeps what the per-chromosome nulls need.

    Called as :func:`kronlmm.gwas._inputs.prepare_inputs`' ``genetic_factor`` (one pass
    over the ``.bed``: :func:`kronlmm.io.grm_by_group`); then :meth:`fit` fits one null per
    chromosome and releases the per-chromosome sums as it goes. See the module notes.

    Parameters
    ----------
    factor : bool, optional
        Keep the standardised dosages (``G₋c = Z₋c/√(m − m_c)``, nothing n × n) rather
        than one n × n sum per chromosome; default: when ``m ≤ n``, as for the
        genome-wide kinship.
    """

    def __init__(self, factor: bool | None = None) -> None:
        self.factor = factor
        self.parts: GroupedGRM | None = None
        self.total: NDArray[np.float64] | None = None
        self.chroms: NDArray[np.str_] | None = None

    def __call__(
        self,
        genotypes: PlinkGenotypes,
        aligned: AlignedSamples,
        block_size: int | None,
        variant_index: NDArray[np.intp],
        progress: Progress = False,
    ) -> tuple[NDArray[np.float64] | EconomicSVD, KinshipInfo]:
        n = aligned.nsamples
        chroms = genotypes.variants["chrom"].to_numpy().astype(str)[variant_index]
        found = list(dict.fromkeys(chroms.tolist()))
        if len(found) < 2:
            where = f"chromosome {found[0]!r}" if found else "no chromosome"
            raise ValueError(
                "leave-one-chromosome-out (--loco / loco=True) needs variants on at least two "
                f"chromosomes, but all {variant_index.size} variant(s) passing the filters are "
                f"on {where} (.bim column 1): the kinship without it would be empty; run "
                "without --loco"
            )
        factor = variant_index.size <= n if self.factor is None else self.factor
        report = phase_progress(progress, int(variant_index.size), "GRM", "variant")
        try:
            with stage("kinship (per-chromosome GRM contributions, one pass)"):
                parts = grm_by_group(
                    genotypes,
                    chroms,
                    aligned.genotype_index,
                    block_size,
                    variant_index=variant_index,
                    progress=lambda d, t: report(d),
                    factor=factor,
                )
        finally:
            report(None)
        for g, chrom in enumerate(parts.groups):
            if parts.m == int(parts.n_variants[g]):
                others = int(parts.n_monomorphic.sum() - parts.n_monomorphic[g])
                raise ValueError(
                    "leave-one-chromosome-out (--loco / loco=True): every variable variant is "
                    f"on chromosome {chrom!r}; the {others} variant(s) of the other "
                    f"chromosomes do not vary among the {n} samples analysed, so the kinship "
                    "without it would be empty; run without --loco"
                )
        self.parts, self.chroms = parts, chroms
        monomorphic = int(parts.n_monomorphic.sum())
        if factor:
            assert parts.Z is not None
            G = parts.Z / np.sqrt(parts.m)
            info = KinshipInfo(
                source="grm",
                method="low-rank genotypes",
                rank=G.shape[1],
                n_variants=parts.m,
                n_monomorphic=monomorphic,
            )
            return G, info
        self.total = parts.total()
        with stage("kinship eigendecomposition"):
            svd, clipped = _factor_from_kinship(self.total / parts.m, overwrite=True)
        info = KinshipInfo(
            source="grm",
            method="eigendecomposition",
            rank=svd.S2.size,
            n_variants=parts.m,
            n_monomorphic=monomorphic,
            n_clipped=clipped,
        )
        return svd, info

    def fit(self, prep: Prepared, genome: Kron2Sum, genome_fit: FitResult) -> list[LocoFit]:
        """Fit one null per chromosome, from the genome-wide estimates ``genome``.

        Each chromosome's kinship is decomposed once and released before the next one is
        formed. A fit that does not converge gives a WARNING naming the chromosome.
        """
        from ..lmm import Kron2Sum

        parts, chroms = self.parts, self.chroms
        if parts is None or chroms is None:
            raise RuntimeError("LocoKinships.fit called before the kinship pass")
        n, p = prep.Y.shape
        out = []
        for g, chrom in enumerate(parts.groups):
            index = prep.variant_index[chroms == chrom]
            m_c = int(parts.n_variants[g])
            if m_c == 0:
                logger.info(
                    "LOCO: no variant of chromosome %s varies among the samples: its kinship "
                    "is the genome-wide one, and so is its null",
                    chrom,
                )
                out.append(
                    LocoFit(
                        chrom,
                        genome_fit,
                        prep.kinship,
                        index,
                        0,
                        C0=genome.C0,
                        C1=genome.C1,
                        lml=float(genome.lml()),
                        rank=genome.rank,
                        restricted=genome.restricted,
                        genome=genome,
                    )
                )
                continue
            with stage(f"LOCO kinship, chromosome {chrom}"):
                G, info = self._factor_without(g, n)
            with stage(f"LOCO null fit, chromosome {chrom}"):
                model = Kron2Sum(
                    prep.Y, np.eye(p), prep.X, G, rank=genome.rank, restricted=genome.restricted
                )
                model.set_start(C0=genome.C0, C1=genome.C1)
                result = model.fit(verbose=False, start="current", restarts=LOCO_RESTARTS)
                C0, C1, lml = model.C0, model.C1, float(model.lml())
                del model  # rebuilt from G when scanned: LocoFit.model
            if result.success:
                logger.info(
                    "LOCO null without chromosome %s (%d of %d variants in its kinship): %s",
                    chrom,
                    info.n_variants,
                    parts.m,
                    result,
                )
            else:
                logger.warning(
                    "the LOCO null model without chromosome %s did NOT converge: %s; the "
                    "chromosome's tests use it as it is",
                    chrom,
                    result,
                )
            out.append(
                LocoFit(
                    chrom,
                    result,
                    info,
                    index,
                    m_c,
                    C0=C0,
                    C1=C1,
                    lml=lml,
                    factor=G,
                    Y=prep.Y,
                    X=prep.X,
                    rank=genome.rank,
                    restricted=genome.restricted,
                )
            )
        self.parts = self.total = None  # every sum has been used once
        return out

    def _factor_without(
        self, g: int, n: int
    ) -> tuple[NDArray[np.float64] | EconomicSVD, KinshipInfo]:
        parts = self.parts
        assert parts is not None
        kept = parts.m - int(parts.n_variants[g])
        monomorphic = int(parts.n_monomorphic.sum() - parts.n_monomorphic[g])
        source = f"grm without chromosome {parts.groups[g]}"
        if parts.sums is None:
            G = parts.factor_without(g)
            return G, KinshipInfo(
                source=source,
                method="low-rank genotypes",
                rank=G.shape[1],
                n_variants=kept,
                n_monomorphic=monomorphic,
            )
        K = parts.kinship_without(g, self.total, release=True)
        svd, clipped = _factor_from_kinship(K, max_rank=kept if kept < n else None, overwrite=True)
        return svd, KinshipInfo(
            source=source,
            method="eigendecomposition",
            rank=svd.S2.size,
            n_variants=kept,
            n_monomorphic=monomorphic,
            n_clipped=clipped,
        )
