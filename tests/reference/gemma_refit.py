"""GEMMA 0.98's mvLMM likelihood-ratio test on a small simulated PLINK set (issue #15, item 3).

kronlmm's refit LRT (:func:`kronlmm.lmm.refit_lrt`, ``refit="all"``) and GEMMA's ``p_lrt``
(``gemma -lmm 4``) are the same test: ML, C₀ (GEMMA's Vg, full rank) and C₁ (Ve)
re-estimated under the alternative, all p traits tested jointly (dof p), an intercept as
the only covariate. Run as a script from the repository root, this writes into
``tests/reference/gemma_refit/``::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        .venv/bin/python tests/reference/gemma_refit.py          # about 35 s

* ``sim.bed/.bim/.fam`` — :func:`simulate` (deterministic in :data:`SEED`): n = 400
  samples, m = 500 variants, p = 3 traits in the ``.fam``'s columns 6–8 (as GEMMA reads
  them; kronlmm reads them with ``pheno_from_fam=True``);
* ``gemma.csv`` — per variant GEMMA's ``p_wald``, ``p_score`` and ``p_lrt`` at its default
  settings, and ``p_lrt_tight``, its ``p_lrt`` with the tightened settings of
  :data:`TIGHT` (Newton-Raphson for every variant, finer precision); the GEMMA
  version and both commands in its ``#`` header lines;
* ``meta.json`` — the simulation's settings, GEMMA's version and commands, its ML null
  log-likelihoods (from its standard output) and the largest difference between GEMMA's
  own ``-gk 1`` kinship and the one used (0 to its 10 digits).

The kinship is GEMMA's centred relatedness matrix (``-gk 1``: ``K = WWᵀ/m``, W the
mean-centred dosages) computed by :func:`centred_kinship`, written once by
:func:`kronlmm.io.write_gemma_kinship` (GEMMA's text format, 10 significant digits) and
given to GEMMA with ``-k``; the test (tests/test_refit_gemma.py) writes the same file
from the stored ``.bed`` the same way and gives it to kronlmm (``kinship=path``), so both
tools read the very same numbers. It is not stored (400 × 400 values in text would be
about 2 MB). GEMMA centres any kinship it reads, so a kinship of another centring would
not change its results; with this one, 1ₙ (the intercept) is in the kinship's null space,
which makes the two tools' likelihoods differ slightly (tests/test_refit_gemma.py).

Needs ``gemma`` (Debian: ``apt-get install gemma``) on the PATH; the test does not.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

HERE = Path(__file__).resolve().parent
OUT = HERE / "gemma_refit"
PREFIX = OUT / "sim"
CSV = OUT / "gemma.csv"
META = OUT / "meta.json"

#: Seed and size of the simulated set.
SEED = 15
N, M, P = 400, 500, 3
#: Genetic (C₀) and residual (C₁) standard deviations and correlations; the residual
#: correlations have the opposite sign of the genetic ones.
GENETIC_SD = np.sqrt([0.4, 0.3, 0.5])
GENETIC_CORR = np.array([[1.0, 0.6, -0.3], [0.6, 1.0, 0.4], [-0.3, 0.4, 1.0]])
RESIDUAL_SD = np.sqrt([0.6, 0.7, 0.5])
RESIDUAL_CORR = np.array([[1.0, -0.5, 0.3], [-0.5, 1.0, -0.4], [0.3, -0.4, 1.0]])
#: Fraction of the total variance of the traits explained by each causal variant
#: (geometric: GEMMA's p_lrt of the causal variants span 1e-2 … 1e-12 at this seed).
CAUSAL_VARIANCE = np.geomspace(0.12, 0.006, 16)

#: GEMMA's settings beyond its defaults for the ``p_lrt_tight`` column: ``-pnr 1`` runs
#: Newton-Raphson after the EM for every variant (by default only where the EM's p_lrt <
#: 0.001), ``-nri`` raises its iteration limit and ``-nrp`` lowers its stopping precision
#: (GEMMA uses ``nri/10`` and ``10·nrp`` for each variant's alternative, the values
#: themselves for the null). The EM's settings are left alone: a finer ``-emp`` (1e-10)
#: makes every variant's EM run to its iteration limit (minutes), while the NR after it
#: converges in a few steps.
TIGHT = ["-pnr", "1", "-nri", "1000", "-nrp", "1e-10"]


def _cov(sd: NDArray[np.float64], corr: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(sd[:, None] * corr * sd[None, :], dtype=np.float64)


def simulate(seed: int = SEED) -> dict[str, NDArray]:
    """The simulated data set (deterministic in ``seed``).

    Dosages: allele frequencies uniform on [0.05, 0.5], Hardy-Weinberg, no missing calls.
    Traits: ``Y = 1μᵀ + Zβ + Σ_causal z_j b_jᵀ + E`` with Z the standardised dosages,
    β (m × p) rows drawn from N(0, C₀/m) (a polygenic C₀ over every variant), E rows from
    N(0, C₁), and :data:`CAUSAL_VARIANCE` causal variants, each with an effect b_j of a
    random direction in trait space explaining its fraction of the total variance.

    Parameters
    ----------
    seed : int

    Returns
    -------
    dict
        ``dosage`` (n × m int8), ``Y`` (n × p), ``causal`` (indices of the causal
        variants), ``C0``, ``C1``.
    """
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.05, 0.5, size=M)
    dosage = rng.binomial(2, freq, size=(N, M)).astype(np.int8)
    if np.any(dosage.min(axis=0) == dosage.max(axis=0)):
        raise RuntimeError("a simulated variant does not vary; choose another seed")
    Z = (dosage - dosage.mean(axis=0)) / dosage.std(axis=0)
    C0 = _cov(GENETIC_SD, GENETIC_CORR)
    C1 = _cov(RESIDUAL_SD, RESIDUAL_CORR)
    beta = rng.standard_normal((M, P)) @ np.linalg.cholesky(C0).T / np.sqrt(M)
    E = rng.standard_normal((N, P)) @ np.linalg.cholesky(C1).T
    total = float(np.trace(C0 + C1)) / P  # variance of an average trait
    causal = np.sort(rng.choice(M, size=CAUSAL_VARIANCE.size, replace=False))
    effects = np.zeros((N, P))
    for j, q in zip(causal, CAUSAL_VARIANCE, strict=True):
        direction = rng.standard_normal(P)
        direction /= np.linalg.norm(direction)
        effects += np.outer(Z[:, j], direction * np.sqrt(P * total * q))
    Y = np.array([1.0, -0.5, 2.0]) + Z @ beta + effects + E
    return {"dosage": dosage, "Y": Y, "causal": causal, "C0": C0, "C1": C1}


def centred_kinship(dosage: NDArray) -> NDArray[np.float64]:
    """GEMMA's centred relatedness matrix (``-gk 1``): ``WWᵀ/m``, W the mean-centred dosages.

    Parameters
    ----------
    dosage : ndarray (n, m)
        Allele counts, no missing values, every variant polymorphic.

    Returns
    -------
    ndarray (n, n)
    """
    W = dosage.astype(np.float64)
    W -= W.mean(axis=0)
    return np.asarray(W @ W.T / W.shape[1], dtype=np.float64)


def sample_ids() -> list[str]:
    """Sample IDs, zero-padded so that their sorted order (kronlmm's) is the file order."""
    return [f"s{i:04d}" for i in range(N)]


def write_plink(prefix: Path, dosage: NDArray, Y: NDArray[np.float64]) -> None:
    """Write ``prefix.bed/.bim/.fam``, the traits in the ``.fam``'s columns 6+ (GEMMA's
    layout)."""
    from bed_reader import to_bed

    ids = sample_ids()
    to_bed(
        f"{prefix}.bed",
        dosage.astype(np.float32),
        properties={
            "fid": ids,
            "iid": ids,
            "sid": [f"v{j:04d}" for j in range(dosage.shape[1])],
            "chromosome": ["1"] * dosage.shape[1],
            "bp_position": 1000 * np.arange(1, dosage.shape[1] + 1),
            "allele_1": ["A"] * dosage.shape[1],
            "allele_2": ["G"] * dosage.shape[1],
        },
    )
    with open(f"{prefix}.fam", "w", encoding="ascii") as fam:
        fam.writelines(
            " ".join([i, i, "0", "0", "0", *(f"{v:.8g}" for v in row)]) + "\n"
            for i, row in zip(ids, Y, strict=True)
        )


def gemma_version() -> str:
    """GEMMA's first output line (its version)."""
    out = subprocess.run(["gemma"], capture_output=True, text=True)
    return next(line.strip() for line in (out.stdout + out.stderr).splitlines() if line.strip())


def _gemma(args: list[str]) -> str:
    done = subprocess.run(["gemma", *args], capture_output=True, text=True, check=True)
    return done.stdout


def _mle_logl(stdout: str) -> float:
    found = re.findall(r"MLE likelihood = (\S+)", stdout)
    return float(found[-1]) if found else float("nan")


def _read_assoc(path: Path) -> dict[str, list[str]]:
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    rows = [line.split("\t") for line in lines[1:]]
    return {name: [r[k] for r in rows] for k, name in enumerate(header)}


def main() -> None:
    """Simulate, run GEMMA and write the reference files (module docstring)."""
    from bed_reader import open_bed

    from kronlmm.io import read_gemma_kinship, write_gemma_kinship

    if shutil.which("gemma") is None:
        sys.exit("gemma is not on the PATH")
    OUT.mkdir(parents=True, exist_ok=True)
    sim = simulate()
    write_plink(PREFIX, sim["dosage"], sim["Y"])
    with open_bed(f"{PREFIX}.bed") as bed:  # the kinship from the .bed as written, as the test
        dosage = bed.read(dtype=np.float64)
    if not np.array_equal(dosage, sim["dosage"]):
        raise RuntimeError("the .bed does not hold the simulated dosages")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        kin = write_gemma_kinship(tmp / "kin.cXX.txt", centred_kinship(dosage))
        _gemma(["-bfile", str(PREFIX), "-gk", "1", "-o", "gk", "-outdir", str(tmp)])
        ids = sample_ids()
        gk_diff = np.max(
            np.abs(read_gemma_kinship(tmp / "gk.cXX.txt", ids) - centred_kinship(dosage))
        )
        common = ["-bfile", str(PREFIX), "-lmm", "4", "-n", "1", "2", "3"]
        runs = {
            "default": [*common, "-k", str(kin)],
            "tight": [*common, "-k", str(kin), *TIGHT],
        }
        logl, assoc = {}, {}
        for name, args in runs.items():
            stdout = _gemma([*args, "-o", name, "-outdir", str(tmp)])
            logl[name] = _mle_logl(stdout)
            assoc[name] = _read_assoc(tmp / f"{name}.assoc.txt")
        shown = {
            name: "gemma " + " ".join(a).replace(str(OUT) + "/", "").replace(str(tmp) + "/", "")
            for name, a in runs.items()
        }
    default = assoc["default"]
    if any(assoc[name]["rs"] != default["rs"] for name in runs):
        raise RuntimeError("GEMMA's runs tested different variants")
    version = gemma_version()
    with open(CSV, "w", encoding="utf-8") as fh:
        fh.write(f"# {version}; written by tests/reference/gemma_refit.py\n")
        fh.write(f"# p_wald, p_lrt, p_score: {shown['default']}\n")
        fh.write(f"# p_lrt_tight: {shown['tight']}\n")
        fh.write("# kin.cXX.txt: write_gemma_kinship(centred_kinship(sim.bed))\n")
        fh.write("rs,p_wald,p_lrt,p_score,p_lrt_tight\n")
        for k, rs in enumerate(default["rs"]):
            values = [default[c][k] for c in ("p_wald", "p_lrt", "p_score")]
            values.append(assoc["tight"]["p_lrt"][k])
            fh.write(",".join([rs, *values]) + "\n")
    meta = {
        "gemma_version": version,
        "commands": shown,
        "tight_settings": TIGHT,
        "gemma_null_mle_logl": logl,
        "seed": SEED,
        "n": N,
        "m": M,
        "p": P,
        "causal": [f"v{j:04d}" for j in sim["causal"]],
        "causal_variance": CAUSAL_VARIANCE.tolist(),
        "gemma_gk1_max_abs_diff": float(gk_diff),
    }
    META.write_text(json.dumps(meta, indent=1) + "\n")
    p = np.array(default["p_lrt"], dtype=float)
    print(
        f"wrote {OUT}: {len(p)} variants, GEMMA p_lrt from {p.min():.3g}, "
        f"{int(np.sum(p == 1))} equal to 1; null MLE log-likelihoods {logl}"
    )


if __name__ == "__main__":
    main()
