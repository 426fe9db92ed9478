"""The null model of a GWAS: fitted once, then used to scan every variant."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .. import __version__
from ..core.progress import Progress, progress_reporter, wants_bar
from ..io import PlinkGenotypes
from ._inputs import KinshipInfo, KinshipSpec, TableSpec, prepare_inputs
from .output import jsonable, write_json
from .result import ASSOC_COLUMNS, EFFECT_COLUMNS, GwasResult

if TYPE_CHECKING:  # the model and scan modules are imported when first needed
    from ..lmm import FitResult, Kron2Sum

__all__ = ["NullFit", "fit_null", "Progress"]

logger = logging.getLogger("kronlmm")

PathLike = str | os.PathLike[str]


@dataclass(eq=False)
class NullFit:
    """A fitted multi-trait null model with labelled estimates, ready to scan variants.

    Model: ``vec(Y) ~ N((Iₚ ⊗ X) vec(B), C₀ ⊗ GGᵀ + C₁ ⊗ Iₙ)`` (see :mod:`kronlmm.lmm`).

    Attributes
    ----------
    model : kronlmm.lmm.Kron2Sum
        The fitted model.
    genotypes : kronlmm.io.PlinkGenotypes
        Where the variants to scan are read from.
    samples : numpy.ndarray
        IDs of the samples used, in model row order (sorted IDs).
    genotype_index : numpy.ndarray
        Their ``.fam`` positions.
    trait_names : list of str
        Traits (columns of Y).
    covariate_names : list of str
        Covariates (columns of X), ``"intercept"`` first when it was added.
    intercept_added : bool
        Whether the intercept was added (it is, unless the covariates already span a
        constant column).
    alignment : dict
        Sample counts from :func:`kronlmm.io.align_samples` (per source,
        ``"in_all_sources"``, ``"missing_values"`` dropped, ``"kept"``).
    kinship : KinshipInfo
        How ``G`` was obtained.
    fit : kronlmm.lmm.FitResult
        What the optimiser did (convergence, iterations, gradient norm).

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import fit_null
    >>> paths = example_paths()
    >>> null = fit_null(paths.prefix, paths.pheno, covar=paths.covar)
    >>> null.nsamples, null.trait_names, null.converged
    (377, ['trait1', 'trait2', 'trait3'], True)
    >>> null.C0.round(2)
            trait1  trait2  trait3
    trait1    0.12    0.21    0.25
    trait2    0.21    0.36    0.43
    trait3    0.25    0.43    0.52
    >>> null.B.shape  # covariates × traits
    (3, 3)

    Fitted once, the null serves any number of scans:

    >>> null.scan("any").top(1)["variant_id"].item()
    'rs20402064'
    >>> null.scan("common", chunk_size=1000).top(1)["variant_id"].item()
    'rs26858614'
    """

    model: Kron2Sum
    genotypes: PlinkGenotypes
    samples: NDArray[np.object_]
    genotype_index: NDArray[np.intp]
    trait_names: list[str]
    covariate_names: list[str]
    intercept_added: bool
    alignment: dict[str, int]
    kinship: KinshipInfo
    fit: FitResult

    # ------------------------------------------------------------------ estimates
    @property
    def C0(self) -> pd.DataFrame:
        """Genetic trait covariance C₀ (traits × traits)."""
        return pd.DataFrame(self.model.C0, index=self.trait_names, columns=self.trait_names)

    @property
    def C1(self) -> pd.DataFrame:
        """Residual trait covariance C₁ (traits × traits)."""
        return pd.DataFrame(self.model.C1, index=self.trait_names, columns=self.trait_names)

    @property
    def B(self) -> pd.DataFrame:
        """Covariate effects B (covariates × traits), GLS estimate at C₀, C₁."""
        return pd.DataFrame(self.model.B, index=self.covariate_names, columns=self.trait_names)

    @property
    def B_se(self) -> pd.DataFrame:
        """Standard errors of :attr:`B` (covariates × traits)."""
        c, p = len(self.covariate_names), len(self.trait_names)
        se = np.sqrt(np.maximum(np.diag(self.model.beta_covariance), 0.0))
        return pd.DataFrame(
            se.reshape((c, p), order="F"), index=self.covariate_names, columns=self.trait_names
        )

    @property
    def lml(self) -> float:
        """Log-likelihood (ML) or restricted log-likelihood (REML) at the optimum."""
        return float(self.model.lml())

    @property
    def converged(self) -> bool:
        """Whether the optimiser met its convergence criteria."""
        return bool(self.fit.success)

    @property
    def restricted(self) -> bool:
        """Whether the variance components were fitted by REML."""
        return self.model.restricted

    @property
    def rank(self) -> int:
        """Maximum rank of C₀."""
        return self.model.rank

    @property
    def nsamples(self) -> int:
        """Samples used."""
        return int(self.samples.size)

    def to_dict(self) -> dict[str, Any]:
        """Everything about the null as plain JSON-ready values.

        Returns
        -------
        dict
            ``kronlmm_version``, ``model``, ``restricted``, ``rank``, ``nsamples``,
            ``trait_names``, ``covariate_names``, ``intercept_added``, ``C0``, ``C1``, ``B``,
            ``B_se`` (nested lists: rows × columns as named), ``lml``, ``convergence``,
            ``alignment`` and ``kinship``; plain JSON types only (NaN as ``None``).
        """
        return jsonable(
            {
                "kronlmm_version": __version__,
                "model": "vec(Y) ~ N((I_p kron X) vec(B), C0 kron G G^T + C1 kron I_n)",
                "restricted": self.restricted,
                "rank": self.rank,
                "nsamples": self.nsamples,
                "trait_names": list(self.trait_names),
                "covariate_names": list(self.covariate_names),
                "intercept_added": self.intercept_added,
                "C0": self.model.C0,
                "C1": self.model.C1,
                "B": self.model.B,
                "B_se": self.B_se.to_numpy(),
                "lml": self.lml,
                "convergence": {
                    "converged": self.converged,
                    "message": self.fit.message,
                    "iterations": self.fit.niter,
                    "evaluations": self.fit.nfev,
                    "gradient_norm": self.fit.grad_norm,
                    "start_lmls": list(self.fit.starts),
                },
                "alignment": dict(self.alignment),
                "kinship": asdict(self.kinship),
            }
        )

    def write_json(self, path: PathLike) -> Path:
        """Write :meth:`to_dict` as JSON, atomically.

        Parameters
        ----------
        path : str or os.PathLike
            Destination.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        return write_json(self.to_dict(), path)

    # ------------------------------------------------------------------ scanning
    def scan(
        self,
        test: str = "any",
        *,
        chunk_size: int | None = None,
        progress: Progress = False,
        scheduler: Any = None,
        workers: int | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
    ) -> GwasResult:
        """Test every variant of :attr:`genotypes`, reading and scanning one block at a time.

        Parameters
        ----------
        test : {"any", "common", "interaction"}
            ``"any"``: an effect on any trait (dof = p); ``"common"``: one effect shared by
            all traits (dof = 1); ``"interaction"``: trait-specific effects beyond a common
            one (dof = p − 1).
        chunk_size : int, optional
            Variants per block (default: sized so that a block takes about 16 MiB).
        progress : bool, "auto" or callable
            See :data:`Progress`.
        scheduler : str or distributed.Client, optional
            Run the scan on an existing Dask cluster (scheduler address such as
            ``"tcp://host:8786"``, or a client). Each worker reads its own variant blocks
            from the ``.bed`` file, which must be reachable at the same path.
        workers : int, optional
            Start a local Dask cluster with this many single-threaded worker processes.
        checkpoint : path, optional
            Directory for per-block results (implies Dask): an interrupted scan started
            again with the same inputs recomputes only the blocks not yet written.

        Returns
        -------
        GwasResult
        """
        from ..scan import make_plan
        from ..scan.kron_scanner import default_block_size

        null = self.model.get_fast_scanner().null
        plan = make_plan(len(self.trait_names), test, trait_names=list(self.trait_names))
        if chunk_size is None:
            chunk_size = default_block_size(null.n, null.U.shape[1], null.p)
        variants = self.genotypes.variants
        dup = variants["variant_id"].duplicated()
        if dup.any():
            logger.warning(
                "%d variant ID(s) occur more than once in the .bim file (e.g. %r); rows of "
                "the effects table follow the assoc table's order, %d per variant",
                int(dup.sum()),
                str(variants["variant_id"][dup].iloc[0]),
                plan.Va.shape[0],
            )
        if scheduler is not None or workers is not None or checkpoint is not None:
            res = self._scan_on_dask(null, plan, chunk_size, progress, scheduler, workers,
                                     checkpoint)  # fmt: skip
            assoc, effects = _result_tables(variants, res, null.n)
        else:
            assoc, effects = self._scan_serial(null, plan, chunk_size, progress)
        for col in ("chrom", "variant_id", "effect_allele", "other_allele", "reason"):
            assoc[col] = assoc[col].astype(str)
        for col in ("variant_id", "trait"):
            effects[col] = effects[col].astype(str)
        result = GwasResult(assoc=assoc, effects=effects, null=self, test=test, dof=plan.dof)
        untestable = len(assoc) - result.n_tested
        logger.info(
            "scanned %d variant(s) with the %r test (dof %d): %d tested, %d untestable",
            len(assoc),
            test,
            plan.dof,
            result.n_tested,
            untestable,
        )
        if untestable:
            counts = assoc.loc[assoc["reason"] != "", "reason"].value_counts()
            logger.info(
                "untestable variants: %s", ", ".join(f"{k} ({v})" for k, v in counts.items())
            )
        return result

    def _scan_serial(
        self, null: Any, plan: Any, chunk_size: int, progress: Progress
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        from ..scan import scan_block

        report = progress_reporter(progress, self.genotypes.nvariants)
        assoc_parts: list[pd.DataFrame] = []
        effect_parts: list[pd.DataFrame] = []
        done = 0
        try:
            for variants, dosage in self.genotypes.iter_blocks(
                chunk_size, sample_index=self.genotype_index
            ):
                res = scan_block(null, dosage, plan, variants["variant_id"].to_numpy())
                assoc_part, effect_part = _result_tables(variants, res, null.n)
                assoc_parts.append(assoc_part)
                effect_parts.append(effect_part)
                done += len(variants)
                report(done)
        finally:
            report(None)
        return _concat(assoc_parts, ASSOC_COLUMNS), _concat(effect_parts, EFFECT_COLUMNS)

    def _scan_on_dask(
        self,
        null: Any,
        plan: Any,
        chunk_size: int,
        progress: Progress,
        scheduler: Any,
        workers: int | None,
        checkpoint: str | os.PathLike[str] | None,
    ) -> Any:
        from ..distributed import BedChunk, scan_chunks

        geno = self.genotypes
        # absolute: workers may run in another working directory
        bed = str(Path(geno.bed_path).resolve())
        sample_index = np.asarray(self.genotype_index, dtype=np.intp)
        ids = geno.variants["variant_id"].to_numpy()
        bounds = list(range(0, geno.nvariants, chunk_size))
        chunks = [
            BedChunk(bed, geno.nsamples, geno.nvariants, sample_index,
                     start, min(start + chunk_size, geno.nvariants), geno.count_A1)
            for start in bounds
        ]  # fmt: skip
        id_chunks = [ids[c.start : c.stop] for c in chunks]
        manifest = {"bed": bed, "chunk_size": int(chunk_size)}
        with _dask_client(scheduler, workers) as client:
            return scan_chunks(null, chunks, plan, ids=id_chunks, client=client,
                               checkpoint=checkpoint, manifest=manifest,
                               progress=wants_bar(progress))  # fmt: skip

    def __repr__(self) -> str:
        kind = "REML" if self.restricted else "ML"
        state = "converged" if self.converged else "NOT converged"
        return (
            f"NullFit(n={self.nsamples}, traits={self.trait_names}, covariates="
            f"{self.covariate_names}, {kind}, rank={self.rank}, lml={self.lml:.6g}, {state})"
        )


def _concat(parts: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.concat(parts, ignore_index=True)[list(columns)]


def fit_null(
    bfile: PathLike | PlinkGenotypes,
    pheno: TableSpec,
    pheno_cols: str | Sequence[str] | None = None,
    covar: TableSpec | None = None,
    covar_cols: str | Sequence[str] | None = None,
    kinship: KinshipSpec = "grm",
    *,
    rank: int = 1,
    restricted: bool = False,
    block_size: int = 1000,
) -> NullFit:
    """Align the inputs by sample ID and fit the multi-trait null model once.

    Parameters
    ----------
    bfile : str, os.PathLike or PlinkGenotypes
        PLINK 1 prefix (``prefix.bed/.bim/.fam``) or an open genotype set.
    pheno : str, os.PathLike or pandas.DataFrame
        Phenotype file (``FID IID trait…``, see :func:`kronlmm.io.read_table`) or a
        DataFrame indexed by sample ID.
    pheno_cols : str or sequence of str, optional
        Traits to use (default: every column).
    covar : str, os.PathLike or pandas.DataFrame, optional
        Covariates, as ``pheno``. An intercept is added unless the covariates already span
        a constant column.
    covar_cols : str or sequence of str, optional
        Covariates to use (default: every column).
    kinship : "grm", str, os.PathLike, kronlmm.io.Kinship or None, default "grm"
        ``"grm"``: the standardised GRM of all variants of ``bfile`` (see Notes);
        a path: a kinship file read by :func:`kronlmm.io.read_kinship` (checked to be
        positive semidefinite); ``None``: no genetic random effect.
    rank : int, default 1
        Maximum rank of C₀.
    restricted : bool, default False
        Fit by REML instead of ML.
    block_size : int, default 1000
        Variants read at a time when building the GRM.

    Returns
    -------
    NullFit

    Raises
    ------
    ValueError
        For any problem with the inputs (missing file, unknown column, non-numeric value,
        duplicate IDs, no overlapping samples, constant trait, kinship not PSD, …); the
        message names the file, column or sample.

    Notes
    -----
    *Samples.* A sample is used when it is in every source and has every selected trait
    and covariate (complete cases); samples dropped for a missing value are counted in
    :attr:`NullFit.alignment` and logged on the ``"kronlmm"`` logger, and only an error when
    none is left. Samples are put in sorted ID order, so results do not depend on the order
    of the samples in any file.

    *Kinship "grm".* With ``Z`` the standardised dosages of all ``m`` variable variants
    (:func:`kronlmm.io.grm_from_genotypes`), ``G = Z/√m`` is used directly when ``m ≤ n``
    (:func:`kronlmm.io.low_rank_G`); otherwise the GRM ``K = ZZᵀ/m`` is eigendecomposed and
    ``G = V·√λ`` (tiny and negative eigenvalues dropped). A kinship file is factored the same
    way. The GRM includes the tested variant (proximal contamination, as in GEMMA's default),
    which makes tests slightly conservative; leave-one-chromosome-out kinships are not
    implemented yet.

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> from kronlmm.gwas import fit_null
    >>> paths = example_paths()
    >>> null = fit_null(paths.prefix, paths.pheno, covar=paths.covar, rank=1)
    >>> null.covariate_names, null.intercept_added
    (['intercept', 'age', 'sex'], True)
    >>> null.alignment["missing_values"], null.alignment["kept"]
    (18, 377)
    >>> null.C1.shape, null.converged
    ((3, 3), True)
    >>> sorted(null.to_dict())[:4]
    ['B', 'B_se', 'C0', 'C1']
    """
    from ..lmm import Kron2Sum

    prep = prepare_inputs(
        bfile, pheno, pheno_cols, covar, covar_cols, kinship, block_size=block_size
    )
    model = Kron2Sum(
        prep.Y, np.eye(prep.Y.shape[1]), prep.X, prep.G, rank=rank, restricted=restricted
    )
    result = model.fit(verbose=False)
    logger.info("null model (%s): %s", "REML" if restricted else "ML", result)
    assert prep.aligned.genotype_index is not None
    return NullFit(
        model=model,
        genotypes=prep.genotypes,
        samples=prep.aligned.ids,
        genotype_index=prep.aligned.genotype_index,
        trait_names=prep.trait_names,
        covariate_names=prep.covariate_names,
        intercept_added=prep.intercept_added,
        alignment=dict(prep.aligned.counts),
        kinship=prep.kinship,
        fit=result,
    )


def _result_tables(variants: pd.DataFrame, res: Any, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The joint-test rows and the per-trait effect rows of one scanned block."""
    ids = variants["variant_id"].to_numpy()
    nobs = (n - res.n_missing).astype(np.int64)
    assoc = pd.DataFrame(
        {
            "chrom": variants["chrom"].to_numpy(),
            "pos": variants["pos"].to_numpy(dtype=np.int64),
            "variant_id": ids,
            "effect_allele": variants["effect_allele"].to_numpy(),
            "other_allele": variants["other_allele"].to_numpy(),
            "effect_allele_frequency": res.mean / 2.0,
            "n": nobs,
            "lml_null": res.lml_null,
            "lml_alt": res.lml_alt,
            "chi2": res.chi2,
            "dof": res.dof.astype(np.int64),
            "p_value": res.pvalue,
            "neg_log10_p_value": res.neg_log10_pvalue,
            "reason": res.reason.astype(str),
        }
    )
    q = len(res.effect_names)
    effects = pd.DataFrame(
        {
            "variant_id": np.repeat(ids, q),
            "trait": np.tile(np.asarray(res.effect_names, dtype=object), len(ids)),
            "beta": res.beta.ravel(),
            "se": res.se.ravel(),
        }
    )
    return assoc, effects


@contextlib.contextmanager
def _dask_client(scheduler: Any, workers: int | None) -> Iterator[Any]:
    """A Dask client: the one given, one connected to ``scheduler``, a local cluster of
    ``workers`` processes, or ``None`` (Dask's default scheduler)."""
    if scheduler is not None and workers is not None:
        raise ValueError("give either scheduler (an existing cluster) or workers, not both")
    if scheduler is None and workers is None:
        yield None
        return
    try:
        import distributed
    except ImportError:
        raise ValueError("distributed scans need Dask: pip install 'kronlmm[dask]'") from None
    if scheduler is not None and not isinstance(scheduler, str):
        yield scheduler  # a Client already
        return
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout="30s")
        except OSError as err:
            raise ValueError(f"cannot connect to the Dask scheduler {scheduler!r}: {err}") from None
        with client:
            yield client
        return
    if int(workers) < 1:
        raise ValueError(f"workers must be ≥ 1, got {workers}")
    with distributed.LocalCluster(
        n_workers=int(workers), threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
        yield client
