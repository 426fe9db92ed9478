"""Write your own covariance: an exponential (continuous-time AR(1)) kernel.

    K[i, j] = s · exp(−|tᵢ − tⱼ| / ℓ),   s = exp(logscale),  ℓ = exp(loglength)

for samples observed at times (or positions) t. The class below subclasses kronlmm's
Function base: it registers its two parameters, returns the dense value, and returns the
gradient with respect to each of its own parameters (parameter axis last). Everything else —
dotted names, fixing, the flat vector for optimisers, composition with SumCov — comes from
the base class. The script then

1. checks the analytic gradient against finite differences (kronlmm.testing.check_gradient),
2. composes K = ExpCov + σ²·I with SumCov and EyeCov,
3. fits s, ℓ and σ² to simulated data by maximum likelihood with SciPy's L-BFGS-B, using the
   flat parameter vector and the gradient of the Gaussian log-likelihood.

Run: .venv/bin/python examples/custom_covariance.py
"""

import numpy as np
import scipy.optimize

from kronlmm.core.parameters import Function, Parameter
from kronlmm.cov import EyeCov, SumCov
from kronlmm.testing import check_gradient


class ExpCov(Function):
    """Exponential covariance ``K[i, j] = s·exp(−|tᵢ − tⱼ| / ℓ)``.

    Parameters ``logscale`` (log s) and ``loglength`` (log ℓ), both bounded to (−20, 20).
    """

    def __init__(self, t, name=None):
        super().__init__(name)
        t = np.asarray(t, dtype=float).ravel()
        self._dist = np.abs(t[:, None] - t[None, :])  # |tᵢ − tⱼ|, fixed
        self._logscale = self._add_parameter("logscale", Parameter(0.0, bounds=(-20, 20)))
        self._loglength = self._add_parameter("loglength", Parameter(0.0, bounds=(-20, 20)))

    @property
    def scale(self):
        return float(np.exp(self._logscale.value))

    @property
    def length(self):
        return float(np.exp(self._loglength.value))

    def value(self):
        return self.scale * np.exp(-self._dist / self.length)

    def _own_gradient(self):
        # Gradients for *all* own parameters; the base class drops the fixed ones.
        K = self.value()
        return {
            "logscale": K[..., None],  # ∂K/∂log s = K
            "loglength": (K * self._dist / self.length)[..., None],  # ∂K/∂log ℓ
        }


# 1. the analytic gradient against central finite differences
rng = np.random.default_rng(0)
n = 250
t = np.sort(rng.uniform(0, 500, n))  # 250 irregular times, about 100 length scales
exp_cov = ExpCov(t, name="exp")
exp_cov.set_flat([np.log(2.0), np.log(5.0)])
check = check_gradient(exp_cov)
print(f"check_gradient(ExpCov): passed={check.passed}, max rel. error {check.max_rel_error:.1e}")

# 2. composition: K = s·exp(−|Δt|/ℓ) + σ²·I
cov = SumCov([exp_cov, EyeCov(n, name="noise")])
print("SumCov parameters:", list(cov.parameters()))
print("gradient shapes:", {k: g.shape for k, g in cov.gradient().items()})
check_gradient(cov).raise_if_failed()

# Fixed parameters drop out of the gradient and of the flat vector.
cov.fix("noise.logscale")
print("with noise fixed:", list(cov.gradient()), "flat vector length", cov.nparams)
cov.unfix("noise.logscale")

# 3. maximum-likelihood fit to data simulated from known values
true = {"exp.logscale": np.log(2.0), "exp.loglength": np.log(5.0), "noise.logscale": np.log(0.5)}
cov.set_flat([true[k] for k in cov.free_parameters()])
y = np.linalg.cholesky(cov.value()) @ rng.standard_normal(n)


def negative_lml(x):
    """−log N(y; 0, K) and its gradient over the flat parameter vector."""
    cov.set_flat(x)
    K = cov.value()
    L = np.linalg.cholesky(K)
    a = np.linalg.solve(L.T, np.linalg.solve(L, y))  # K⁻¹y
    Kinv = np.linalg.inv(K)
    lml = -0.5 * (n * np.log(2 * np.pi) + 2 * np.sum(np.log(np.diag(L))) + y @ a)
    # ∂lml/∂θ = ½ Σᵢⱼ (aaᵀ − K⁻¹)ᵢⱼ ∂Kᵢⱼ/∂θ; flat_gradient() has the parameter axis last
    grad = 0.5 * np.tensordot(np.outer(a, a) - Kinv, cov.flat_gradient(), axes=([0, 1], [0, 1]))
    return -lml, -grad


cov.set_flat([0.0, 0.0, 0.0])  # start: s = ℓ = σ² = 1
res = scipy.optimize.minimize(
    negative_lml, cov.get_flat(), jac=True, method="L-BFGS-B", bounds=cov.flat_bounds()
)
cov.set_flat(res.x)
print(f"fit: converged={res.success}, lml = {-res.fun:.3f}")
labels = {"exp.logscale": "s", "exp.loglength": "length", "noise.logscale": "sigma2"}
print(f"{'parameter':<30} {'true':>6} {'fitted':>7}")
for name, par in cov.free_parameters().items():
    label = f"{labels[name]} = exp({name})"
    print(f"{label:<30} {np.exp(true[name]):6.2f} {np.exp(par.value):7.3f}")
