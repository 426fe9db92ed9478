"""Small bundled example GWAS dataset (simulated; see :mod:`kronlmm.data.make_example`).

400 samples, 3000 variants on chromosomes 1–3, three correlated traits with a polygenic
background and three known causal variants, two covariates (age, sex). The phenotype and
covariate files list the samples in other orders than the ``.fam`` file, five genotyped
samples have no phenotypes and a few trait values are ``NA``: use
:func:`kronlmm.io.align_samples` to match them by ID.

Examples
--------
>>> from kronlmm.data import example_paths
>>> from kronlmm.io import PlinkGenotypes, read_table, align_samples
>>> paths = example_paths()
>>> geno = PlinkGenotypes(paths.prefix)
>>> pheno = read_table(paths.pheno)
>>> covar = read_table(paths.covar)
>>> aligned = align_samples(geno, pheno, covar)
>>> aligned.nsamples
377
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..io import InputFileNotFoundError

__all__ = ["ExamplePaths", "example_paths"]


@dataclass(frozen=True)
class ExamplePaths:
    """Paths of the bundled example files.

    Attributes
    ----------
    prefix : pathlib.Path
        PLINK prefix, for :class:`kronlmm.io.PlinkGenotypes`.
    bed, bim, fam : pathlib.Path
        The PLINK 1 binary files.
    pheno : pathlib.Path
        ``FID IID trait1 trait2 trait3`` (tab separated, ``NA`` missing).
    covar : pathlib.Path
        ``FID IID age sex`` (tab separated).
    causal : pathlib.Path
        True causal variants and their per-allele effects (``beta_trait1`` …).

    Examples
    --------
    >>> from kronlmm.data import ExamplePaths, example_paths
    >>> paths = example_paths()
    >>> isinstance(paths, ExamplePaths), paths.prefix.name
    (True, 'example')
    """

    prefix: Path
    bed: Path
    bim: Path
    fam: Path
    pheno: Path
    covar: Path
    causal: Path


def example_paths() -> ExamplePaths:
    """Return the paths of the bundled example dataset.

    Returns
    -------
    ExamplePaths

    Raises
    ------
    InputFileNotFoundError
        If a file is missing (regenerate with ``python -m kronlmm.data.make_example``).

    Examples
    --------
    >>> from kronlmm.data import example_paths
    >>> paths = example_paths()
    >>> paths.bed.name, paths.pheno.name, paths.covar.name
    ('example.bed', 'pheno.tsv', 'covar.tsv')
    """
    here = Path(__file__).resolve().parent
    prefix = here / "example"
    paths = ExamplePaths(
        prefix=prefix,
        bed=here / "example.bed",
        bim=here / "example.bim",
        fam=here / "example.fam",
        pheno=here / "pheno.tsv",
        covar=here / "covar.tsv",
        causal=here / "causal.tsv",
    )
    for name in ("bed", "bim", "fam", "pheno", "covar", "causal"):
        path = getattr(paths, name)
        if not path.is_file():
            raise InputFileNotFoundError(
                f"example file {str(path)!r} is missing; regenerate the dataset with "
                "`python -m kronlmm.data.make_example`"
            )
    return paths
