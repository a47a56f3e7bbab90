"""The registry of every public function (after PyTorch's OpInfo).

Each :class:`OpInfo` says how to call one public function on tensors (``op``: positional
tensors in, tensors out), how to make sample inputs (``make(dtype, generator, batch)``:
small, with a leading ``batch`` shape on the batchable arguments), which arguments it
is differentiable in (``grad``; twice when ``gradgrad``), its reference where one exists,
its domain, and its bad-input rule (``nan``: ``"raise"`` a ``ValueError`` naming the
function and ``nan_name`` while validation is on, or ``"propagate"`` a NaN). An entry
that cannot take part in one of the cross-cutting tests names the test in ``skips`` with
the reason, so every exception is visible here, in one place.

``tests/test_opinfo.py`` runs the tests over :data:`OPS`; ``EXCLUDED`` lists the public
names that are not functions of tensors (estimators, result types, modules, optimizer
kernels) with the reason and where they are tested instead. A public name that is in
neither fails ``test_every_public_name_is_registered``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from torchmath import information as I  # noqa: N812
from torchmath import learning_theory as LT  # noqa: N812
from torchmath import linalg as LA  # noqa: N812
from torchmath import optim as O  # noqa: N812
from torchmath import probability as P  # noqa: N812

Make = Callable[[torch.dtype, torch.Generator, tuple[int, ...]], tuple]

# Reasons shared by several entries.
SYNC_SOLVER = ("an iterative solver that checks convergence on the host (a data-dependent "
               "loop): no vmap, no fullgraph compile, no meta run")
HOST_RESULT = "returns Python numbers / a host decision by design"
NOT_DIFF = "not differentiable: the output is piecewise constant or a selection"
RANDOM = "draws random numbers: vmap needs randomness='different' and compares to no loop"
CALLABLE = ("takes a Python callable and differentiates it with torch.autograd (create_graph):"
            " torch.func transforms of the wrapper are not supported; use torch.func directly")
LABELS = "integer-label or boolean input/outputs"
NO_NAN_ARG = "no floating tensor argument that could hold a NaN"
NO_QR_JVP = "torch has no forward-mode rule for QR (geqrf): no jacfwd/hessian"
NO_SVD_JVP = "the safe SVD's custom backward has no forward-mode rule: no jacfwd/hessian"
NOT_MINE = "computed in torchmath/optim/logistic.py, outside this registry's fixes (estimators)"


@dataclass(frozen=True)
class OpInfo:
    """One public function and how the cross-cutting tests call it."""

    name: str
    op: Callable[..., Any]
    make: Make
    grad: tuple[int, ...] = ()
    gradgrad: bool = True
    batched: tuple[int, ...] | None = None
    reference: Callable[..., Any] | None = None
    domain: str = "real"
    nan: str = "raise"
    nan_arg: int = 0
    nan_name: str | None = None
    skips: dict[str, str] = field(default_factory=dict)

    @property
    def short(self) -> str:
        return self.name.split(".")[-1]

    def sample(self, dtype=torch.float64, batch: tuple[int, ...] = (), seed: int = 0) -> tuple:
        return self.make(dtype, torch.Generator().manual_seed(seed), batch)

    def batched_args(self, args: tuple) -> tuple[int, ...]:
        if self.batched is not None:
            return self.batched
        return tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))


# ---------------------------------------------------------------------------- samples
def rn(g, dt, *shape):
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dt)


def ru(g, dt, *shape, low=0.0, high=1.0):
    return (low + (high - low) * torch.rand(shape, generator=g, dtype=torch.float64)).to(dt)


def spd(g, dt, batch, d):
    A = torch.randn((*batch, d, d), generator=g, dtype=torch.float64)
    return (A @ A.mT / d + torch.eye(d, dtype=torch.float64)).to(dt)


def simplex(g, dt, *shape):
    return torch.softmax(torch.randn(shape, generator=g, dtype=torch.float64), -1).to(dt)


def labels(g, n, k, batch=()):
    y = torch.randint(0, k, (*batch, n), generator=g)
    y[..., :k] = torch.arange(k)  # every class present
    return y


def sym(f):
    """Differentiate through a symmetric matrix argument (gradcheck perturbs one entry)."""
    return lambda A, *rest: f((A + A.mT) / 2, *rest)


def floats(out) -> tuple[Tensor, ...]:
    """The floating-point tensors of an output (a tensor, tuple, NamedTuple, dict)."""
    leaves = torch.utils._pytree.tree_leaves(out)
    return tuple(t for t in leaves if isinstance(t, Tensor) and t.is_floating_point())


def _conj(fn, **kw):
    def op(x):
        post = fn(x, **kw)
        return tuple(post.params[k] for k in sorted(post.params)) + (post.map,)
    return op


# ---------------------------------------------------------------------------- probability
PROBABILITY = [
    OpInfo("probability.mvn_log_prob", lambda x, m, c: P.mvn_log_prob(x, m, cov=c),
           lambda dt, g, b: (rn(g, dt, *b, 5, 3), rn(g, dt, *b, 1, 3), spd(g, dt, (*b, 1), 3)),
           grad=(0, 1, 2), domain="cov: PD matrix",
           reference=lambda x, m, c: torch.distributions.MultivariateNormal(m, c).log_prob(x),
           nan_arg=2, nan_name="cov"),
    OpInfo("probability.mvn_log_prob[precision]",
           lambda x, m, c: P.mvn_log_prob(x, m, precision=c),
           lambda dt, g, b: (rn(g, dt, *b, 2, 3), rn(g, dt, *b, 1, 3), spd(g, dt, (*b, 1), 3)),
           grad=(0, 1, 2), domain="precision: PD matrix", nan_arg=2, nan_name="precision"),
    OpInfo("probability.mvn_sample",
           lambda m, c: P.mvn_sample(m, cov=c, n=4, generator=torch.Generator().manual_seed(0)),
           lambda dt, g, b: (rn(g, dt, *b, 3), spd(g, dt, b, 3)),
           grad=(0, 1), domain="cov: PD matrix", nan_name="mean",
           skips={"vmap": RANDOM, "compile": "takes a torch.Generator", "func": RANDOM,
                  "meta": "draws from a CPU generator"}),
    OpInfo("probability.normal_log_prob", P.normal_log_prob,
           lambda dt, g, b: (rn(g, dt, *b, 4), rn(g, dt, *b, 4), ru(g, dt, *b, 4, low=0.5,
                                                                    high=2)),
           grad=(0, 1, 2), domain="std > 0", nan="propagate",
           reference=lambda x, m, s: torch.distributions.Normal(m, s).log_prob(x)),
    OpInfo("probability.bayes_posterior", P.bayes_posterior,
           lambda dt, g, b: (simplex(g, dt, *b, 4), ru(g, dt, *b, 4, low=0.1)),
           grad=(0, 1), domain="prior: simplex; likelihood >= 0", nan_name="prior"),
    OpInfo("probability.marginal", lambda j: P.marginal(j, 1),
           lambda dt, g, b: (simplex(g, dt, *b, 6).reshape(*b, 2, 3),),
           grad=(0,), domain="joint: probability table", nan_name="joint"),
    OpInfo("probability.conditional", lambda j: P.conditional(j, 1),
           lambda dt, g, b: (simplex(g, dt, *b, 6).reshape(*b, 2, 3),),
           grad=(0,), domain="joint: probability table", nan_name="joint"),
    OpInfo("probability.mean", lambda x, w: P.mean(x, weights=w),
           lambda dt, g, b: (rn(g, dt, *b, 5), ru(g, dt, *b, 5, low=0.2)),
           grad=(0, 1), domain="weights >= 0", nan="propagate",
           reference=lambda x, w: (x * w).sum(-1) / w.sum(-1)),
    OpInfo("probability.var", lambda x: P.var(x),
           lambda dt, g, b: (rn(g, dt, *b, 5),), grad=(0,), nan="propagate",
           reference=lambda x: torch.var(x, -1)),
    OpInfo("probability.cov", lambda x: P.cov(x),
           lambda dt, g, b: (rn(g, dt, *b, 6, 3),), grad=(0,), nan="propagate",
           reference=lambda x: torch.cov(x.mT) if x.dim() == 2 else None),
    OpInfo("probability.corr", lambda x: P.corr(x),
           lambda dt, g, b: (rn(g, dt, *b, 6, 3),), grad=(0,), nan="propagate",
           reference=lambda x: torch.corrcoef(x.mT) if x.dim() == 2 else None),
    OpInfo("probability.mle_bernoulli", P.mle_bernoulli,
           lambda dt, g, b: ((torch.rand((*b, 8), generator=g) < 0.5).to(dt),),
           domain="x in {0, 1}", skips={"gradcheck": "data in {0, 1}: no perturbation "
                                         "stays in the domain", "func": "data in {0, 1}"}),
    OpInfo("probability.mle_categorical", lambda y: P.mle_categorical(y, 3),
           lambda dt, g, b: (labels(g, 8, 3, b),), domain="labels",
           skips={"gradcheck": LABELS, "func": LABELS, "nan": NO_NAN_ARG,
                  "dtype": "integer labels in; dtype= chooses the output dtype"}),
    OpInfo("probability.mle_exponential", P.mle_exponential,
           lambda dt, g, b: (ru(g, dt, *b, 6, low=0.1, high=2),), grad=(0,), domain="x >= 0",
           reference=lambda x: 1 / x.mean(-1)),
    OpInfo("probability.mle_poisson", P.mle_poisson,
           lambda dt, g, b: (torch.randint(0, 5, (*b, 6), generator=g).to(dt),),
           domain="counts >= 0", reference=lambda x: x.mean(-1),
           skips={"gradcheck": "integer counts", "func": "integer counts"}),
    OpInfo("probability.mle_normal", P.mle_normal,
           lambda dt, g, b: (rn(g, dt, *b, 6),), grad=(0,),
           reference=lambda x: (x.mean(-1), x.std(-1, correction=0))),
    OpInfo("probability.mle_mvn", P.mle_mvn,
           lambda dt, g, b: (rn(g, dt, *b, 6, 2),), grad=(0,),
           reference=lambda x: (x.mean(-2), torch.cov(x.mT, correction=0))
           if x.dim() == 2 else None),
    OpInfo("probability.beta_bernoulli", _conj(P.beta_bernoulli, alpha=2.0, beta=3.0),
           lambda dt, g, b: ((torch.rand((*b, 8), generator=g) < 0.5).to(dt),),
           domain="x in {0, 1}", skips={"gradcheck": "data in {0, 1}", "func": "data in {0, 1}"}),
    OpInfo("probability.gamma_poisson", _conj(P.gamma_poisson, shape=2.0, rate=1.0),
           lambda dt, g, b: (torch.randint(0, 5, (*b, 6), generator=g).to(dt),),
           domain="counts >= 0", skips={"gradcheck": "integer counts", "func": "integer counts"}),
    OpInfo("probability.normal_normal", _conj(P.normal_normal, prior_mean=0.0, prior_std=2.0,
                                              noise_std=1.0),
           lambda dt, g, b: (rn(g, dt, *b, 6),), grad=(0,)),
    OpInfo("probability.normal_inverse_gamma", _conj(P.normal_inverse_gamma),
           lambda dt, g, b: (rn(g, dt, *b, 6),), grad=(0,),
           skips={"meta": "torch's StudentT builds its inner Chi2 with default validation "
                  "(a host sync inside torch.distributions)"}),
    OpInfo("probability.dirichlet_categorical",
           lambda y, c: _conj(P.dirichlet_categorical, concentration=c)(y),
           lambda dt, g, b: (labels(g, 8, 3, b), ru(g, dt, *b, 3, low=0.5, high=2)),
           domain="labels; concentration > 0", nan_arg=1, nan_name="concentration",
           skips={"gradcheck": LABELS, "func": LABELS}),
]

# ---------------------------------------------------------------------------- linalg
LINALG = [
    OpInfo("linalg.inner", lambda x, y, m: LA.inner(x, y, metric=m),
           lambda dt, g, b: (rn(g, dt, *b, 3), rn(g, dt, *b, 3), spd(g, dt, b, 3)),
           grad=(0, 1, 2), domain="metric: PD", nan="propagate",
           reference=lambda x, y, m: (x.unsqueeze(-2) @ m @ y.unsqueeze(-1)).reshape(x.shape[:-1])),
    OpInfo("linalg.norm", lambda x, m: LA.norm(x, metric=m),
           lambda dt, g, b: (rn(g, dt, *b, 3), spd(g, dt, b, 3)),
           grad=(0, 1), domain="metric: PD", nan="propagate"),
    OpInfo("linalg.mahalanobis", lambda x, m, c: LA.mahalanobis(x, m, cov=c),
           lambda dt, g, b: (rn(g, dt, *b, 4, 3), rn(g, dt, *b, 1, 3), spd(g, dt, (*b, 1), 3)),
           grad=(0, 1, 2), domain="cov: PD", nan_arg=2, nan_name="cov"),
    OpInfo("linalg.gram_matrix", lambda x: LA.gram_matrix(x, kernel="rbf", gamma=0.5),
           lambda dt, g, b: (rn(g, dt, *b, 4, 3),), grad=(0,), nan="propagate",
           reference=lambda x: torch.exp(-0.5 * torch.cdist(x, x).square())),
    OpInfo("linalg.column_gram", lambda x: LA.column_gram(x, block_columns=2),
           lambda dt, g, b: (rn(g, dt, *b, 6, 5),), grad=(0,), nan="propagate",
           reference=lambda x: x.mT @ x),
    OpInfo("linalg.column_gram[weighted]", lambda x, w: LA.column_gram(x, w, block_columns=2),
           lambda dt, g, b: (rn(g, dt, *b, 6, 5), ru(g, dt, *b, 6, low=0.5)), grad=(0, 1),
           nan="propagate", reference=lambda x, w: x.mT @ (w.unsqueeze(-1) * x)),
    OpInfo("linalg.column_gram[center]", lambda x, c: LA.column_gram(x, center=c),
           lambda dt, g, b: (rn(g, dt, *b, 6, 5), rn(g, dt, *b, 5)), grad=(0, 1),
           nan="propagate",
           reference=lambda x, c: (x - c.unsqueeze(-2)).mT @ (x - c.unsqueeze(-2))),
    OpInfo("linalg.gram_matrix[linear]", lambda x, y: LA.gram_matrix(x, y),
           lambda dt, g, b: (rn(g, dt, *b, 4, 3), rn(g, dt, *b, 2, 3)), grad=(0, 1),
           nan="propagate", reference=lambda x, y: x @ y.mT),
    OpInfo("linalg.condition_number", LA.condition_number,
           lambda dt, g, b: (spd(g, dt, b, 3),), grad=(0,), nan_name="A",
           reference=torch.linalg.cond),
    OpInfo("linalg.is_positive_definite", LA.is_positive_definite,
           lambda dt, g, b: (spd(g, dt, b, 3),), nan="propagate",
           skips={"gradcheck": "returns a bool tensor", "func": "returns a bool tensor",
                  "nan": "a NaN matrix is reported as not positive definite (False)",
                  "dtype": "returns a bool tensor"}),
    OpInfo("linalg.safe_cholesky", LA.safe_cholesky,
           lambda dt, g, b: (spd(g, dt, b, 3),), grad=(0,), domain="PSD",
           reference=torch.linalg.cholesky, nan_name="A",
           skips={"vmap": "retries failed batch elements with jitter: a data-dependent loop",
                  "compile": "the jitter retry is a data-dependent loop (a host sync by design)",
                  "meta": "the jitter retry reads the factorization status on the host",
                  "func": "the jitter retry reads the factorization status on the host"}),
    OpInfo("linalg.tril_solve", LA.tril_solve,
           lambda dt, g, b: (torch.linalg.cholesky(spd(g, dt, (*b, 1), 3)), rn(g, dt, *b, 4, 3)),
           grad=(0, 1), nan="propagate", nan_arg=1,
           reference=lambda L, x: torch.linalg.solve_triangular(
               L, x.mT, upper=False).mT if L.dim() == 2 else None),
    OpInfo("linalg.gram_schmidt", LA.gram_schmidt,
           lambda dt, g, b: (rn(g, dt, *b, 4, 3),), grad=(0,), nan_name="A",
           skips={"vmap": "rank test per column on the host"}),
    OpInfo("linalg.householder_qr", LA.householder_qr,
           lambda dt, g, b: (rn(g, dt, *b, 4, 3),), grad=(0,), nan_name="A"),
    OpInfo("linalg.lstsq", lambda A, y: LA.lstsq(A, y).solution,
           lambda dt, g, b: (rn(g, dt, *b, 6, 3), rn(g, dt, *b, 6)), grad=(0, 1),
           nan_name="A", skips={"jacfwd": NO_QR_JVP, "hessian": NO_QR_JVP,
                                "meta": "torch has no meta kernel for QR (geqrf)"},
           reference=lambda A, y: (torch.linalg.pinv(A) @ y.unsqueeze(-1)).squeeze(-1)),
    OpInfo("linalg.project", LA.project,
           lambda dt, g, b: (rn(g, dt, *b, 4), rn(g, dt, *b, 4, 2)), grad=(0, 1), nan="propagate",
           skips={"jacfwd": NO_SVD_JVP, "hessian": NO_SVD_JVP}),
    OpInfo("linalg.projection_matrix", LA.projection_matrix,
           lambda dt, g, b: (rn(g, dt, *b, 4, 2),), grad=(0,), nan_name="A",
           skips={"jacfwd": NO_SVD_JVP, "hessian": NO_SVD_JVP},
           reference=lambda A: A @ torch.linalg.pinv(A)),
    OpInfo("linalg.orthogonal_complement",
           lambda A: (lambda N: N @ N.mT)(LA.orthogonal_complement(A)),
           lambda dt, g, b: (rn(g, dt, *b, 4, 2),), grad=(0,), nan_name="A",
           reference=lambda A: torch.eye(A.shape[-2], dtype=A.dtype)
           - A @ torch.linalg.pinv(A),
           skips={"vmap": "the rank (number of columns returned) is data-dependent",
                  "compile": "the rank (number of columns returned) is data-dependent",
                  "meta": "the rank (number of columns returned) is data-dependent"}),
    OpInfo("linalg.safe_eigh", lambda A: LA.safe_eigh(A).eigenvalues,
           lambda dt, g, b: (spd(g, dt, b, 3),), grad=(0,), nan_name="A",
           reference=torch.linalg.eigvalsh),
    OpInfo("linalg.safe_svd", lambda A: LA.safe_svd(A).S,
           lambda dt, g, b: (rn(g, dt, *b, 4, 3),), grad=(0,), nan_name="A",
           skips={"jacfwd": NO_SVD_JVP, "hessian": NO_SVD_JVP},
           reference=torch.linalg.svdvals),
    OpInfo("linalg.truncated_svd", lambda A: LA.truncated_svd(A, 2).S,
           lambda dt, g, b: (rn(g, dt, *b, 4, 3),), grad=(0,), nan_name="A",
           skips={"jacfwd": NO_SVD_JVP, "hessian": NO_SVD_JVP},
           reference=lambda A: torch.linalg.svdvals(A)[..., :2]),
    OpInfo("linalg.svd_flip", lambda U, Vh: LA.svd_flip(U, Vh),
           lambda dt, g, b: (rn(g, dt, *b, 4, 3), rn(g, dt, *b, 3, 3)), grad=(0, 1),
           nan="propagate"),
    OpInfo("linalg.randomized_svd",
           lambda A: LA.randomized_svd(A, 2, generator=torch.Generator().manual_seed(0)).S,
           lambda dt, g, b: (rn(g, dt, *b, 6, 4),), grad=(0,), nan_name="A",
           skips={"vmap": RANDOM, "meta": "draws from a CPU generator",
                  "jacfwd": NO_SVD_JVP, "hessian": NO_SVD_JVP,
                  "compile": "takes a torch.Generator, which dynamo cannot trace"}),
    OpInfo("linalg.power_iteration",
           lambda A: LA.power_iteration(A, 1, generator=torch.Generator().manual_seed(0),
                                        max_iter=200).eigenvalues,
           lambda dt, g, b: (spd(g, dt, (), 3),), nan_name="A", batched=(),
           skips={"vmap": SYNC_SOLVER, "compile": SYNC_SOLVER, "meta": SYNC_SOLVER,
                  "gradcheck": SYNC_SOLVER, "func": SYNC_SOLVER}),
    OpInfo("linalg.lanczos_eigsh",
           lambda A: LA.lanczos_eigsh(A, k=2, generator=torch.Generator().manual_seed(0))
           .eigenvalues,
           lambda dt, g, b: (spd(g, dt, (), 6),), nan_name="matvec", batched=(),
           skips={"vmap": SYNC_SOLVER, "compile": SYNC_SOLVER, "meta": SYNC_SOLVER,
                  "gradcheck": SYNC_SOLVER, "func": SYNC_SOLVER}),
    OpInfo("linalg.image_pca", lambda x: LA.image_pca(x, 2).reconstruction_error,
           lambda dt, g, b: (rn(g, dt, *b, 6, 2, 3),), grad=(0,), gradgrad=False,
           nan_name="images", batched=(),
           skips={"vmap": "images are the samples: a batch dimension is the sample dimension",
                  "gradgradcheck": "the components are held fixed: exact first derivative "
                  "(envelope theorem), not second",
                  "func": "fits a PCA estimator (detached buffers, host-side checks) inside",
                  "compile": "fits a PCA estimator (host-side checks) inside",
                  "meta": "fits a PCA estimator (host-side checks) inside"}),
]

# ---------------------------------------------------------------------------- optim
def _quartic(x):
    return (x ** 4).sum(-1) + (x[..., 0] * x[..., -1])


OPTIM = [
    OpInfo("optim.soft_threshold", lambda x: O.soft_threshold(x, 0.3),
           lambda dt, g, b: (rn(g, dt, *b, 5),), grad=(0,), nan="propagate",
           reference=lambda x: torch.sign(x) * (x.abs() - 0.3).clamp_min(0)),
    OpInfo("optim.prox_l2", lambda x: O.prox_l2(x, 0.3),
           lambda dt, g, b: (rn(g, dt, *b, 5),), grad=(0,), nan="propagate"),
    OpInfo("optim.prox_squared_l2", lambda x: O.prox_squared_l2(x, 0.3),
           lambda dt, g, b: (rn(g, dt, *b, 5),), grad=(0,), nan="propagate",
           reference=lambda x: x / 1.3),
    OpInfo("optim.prox_nonneg", lambda x: O.prox_nonneg(x),
           lambda dt, g, b: (rn(g, dt, *b, 5),), grad=(0,), nan="propagate",
           reference=lambda x: x.clamp_min(0)),
    OpInfo("optim.prox_elastic_net", lambda x: O.prox_elastic_net(x, 0.3, 0.5),
           lambda dt, g, b: (rn(g, dt, *b, 5),), grad=(0,), nan="propagate"),
    OpInfo("optim.project_box", lambda x: O.project_box(x, -0.5, 0.5),
           lambda dt, g, b: (rn(g, dt, *b, 5),), grad=(0,), nan="propagate",
           reference=lambda x: x.clamp(-0.5, 0.5)),
    OpInfo("optim.project_l1_ball", lambda x: O.project_l1_ball(x, 1.0),
           lambda dt, g, b: (rn(g, dt, *b, 5),), grad=(0,), nan="propagate"),
    OpInfo("optim.project_l2_ball", lambda x: O.project_l2_ball(x, 1.0),
           lambda dt, g, b: (rn(g, dt, *b, 5),), grad=(0,), nan="propagate"),
    OpInfo("optim.project_simplex", lambda x: O.project_simplex(x),
           lambda dt, g, b: (rn(g, dt, *b, 5),), grad=(0,), nan="propagate"),
    OpInfo("optim.logistic_loss", O.logistic_loss,
           lambda dt, g, b: (rn(g, dt, *b, 6, 3), labels(g, 6, 2, b), rn(g, dt, *b, 1, 3),
                             rn(g, dt, *b, 1)),
           grad=(0, 2, 3), nan="propagate", batched=(),
           skips={"meta": "reads labels on the host while validating"}),
    OpInfo("optim.solve_qp", lambda Q, p, G, h: O.solve_qp(Q, p, G, h).x,
           lambda dt, g, b: (spd(g, dt, b, 3), rn(g, dt, *b, 3), rn(g, dt, *b, 2, 3),
                             ru(g, dt, *b, 2, low=0.5)),
           grad=(0, 1, 2, 3), gradgrad=False, nan_name="Q",
           skips={"gradgradcheck": "the KKT-implicit backward is first order", "vmap": SYNC_SOLVER,
                  "compile": SYNC_SOLVER, "meta": SYNC_SOLVER,
                  "func": SYNC_SOLVER}),
    OpInfo("optim.solve_lp", lambda c, G, h: O.solve_lp(c, G, h).x,
           lambda dt, g, b: (ru(g, dt, *b, 2, low=0.5), -torch.eye(2, dtype=dt).expand(
               *b, 2, 2), torch.zeros(*b, 2, dtype=dt)), nan_name="c",
           skips={"vmap": SYNC_SOLVER, "compile": SYNC_SOLVER, "meta": SYNC_SOLVER,
                  "gradcheck": "an LP solution is piecewise constant in c",
                  "func": SYNC_SOLVER}),
    OpInfo("optim.gradient", lambda x: O.gradient(_quartic, x),
           lambda dt, g, b: (rn(g, dt, *b, 3),), grad=(0,), nan="propagate",
           reference=lambda x: torch.func.grad(lambda v: _quartic(v).sum())(x),
           skips={"vmap": CALLABLE, "func": CALLABLE, "compile": CALLABLE, "meta": CALLABLE}),
    OpInfo("optim.hessian", lambda x: O.hessian(_quartic, x),
           lambda dt, g, b: (rn(g, dt, 3),), grad=(0,), batched=(), nan="propagate",
           reference=lambda x: torch.func.hessian(_quartic)(x),
           skips={"vmap": CALLABLE, "func": CALLABLE, "compile": CALLABLE, "meta": CALLABLE}),
    OpInfo("optim.hvp", lambda x, v: O.hvp(_quartic, x, v),
           lambda dt, g, b: (rn(g, dt, 3), rn(g, dt, 3)), grad=(0, 1), batched=(),
           nan="propagate",
           skips={"vmap": CALLABLE, "func": CALLABLE, "compile": CALLABLE, "meta": CALLABLE}),
    OpInfo("optim.jacobian", lambda x: O.jacobian(lambda v: v.sin() * v.sum(), x),
           lambda dt, g, b: (rn(g, dt, 3),), grad=(0,), batched=(), nan="propagate",
           skips={"vmap": CALLABLE, "func": CALLABLE, "compile": CALLABLE, "meta": CALLABLE}),
    OpInfo("optim.smoothness_constants", lambda x: O.smoothness_constants(_quartic, x),
           lambda dt, g, b: (rn(g, dt, 3),), batched=(), nan_name="x",
           skips={"vmap": CALLABLE, "func": CALLABLE, "compile": CALLABLE, "meta": CALLABLE,
                  "gradcheck": "extreme Hessian eigenvalues: a host-side bound"}),
    OpInfo("optim.step_size_bound", O.step_size_bound,
           lambda dt, g, b: (ru(g, dt, *b, 3, low=0.5, high=2),), grad=(0,),
           reference=lambda L: 1 / L, nan_name="L"),
    OpInfo("optim.measured_rate", O.measured_rate,
           lambda dt, g, b: (0.5 ** torch.arange(1.0, 9.0, dtype=dt)
                             * ru(g, dt, 8, low=0.9, high=1.1),),
           grad=(0,), batched=(), nan_name="errors",
           skips={"vmap": "selects the positive errors (a data-dependent length)",
                  "compile": "selects the positive errors (a data-dependent length)",
                  "meta": "selects the positive errors (a data-dependent length)"}),
]

# ---------------------------------------------------------------------------- information
def _disc(fn, p_form="probs", q_form=None, **kw):
    if q_form is None:
        return lambda p: fn(**{p_form: p}, **kw)
    return lambda p, q: fn(**{"p_" + p_form: p, "q_" + q_form: q}, **kw)


def _pq(dt, g, b):
    return simplex(g, dt, *b, 4), simplex(g, dt, *b, 4)


def _joint(dt, g, b):
    return (simplex(g, dt, *b, 6).reshape(*b, 2, 3),)


INFORMATION = [
    OpInfo("information.entropy", _disc(I.entropy),
           lambda dt, g, b: (simplex(g, dt, *b, 4),), grad=(0,), domain="simplex",
           nan_name="probs",
           reference=lambda p: torch.distributions.Categorical(probs=p).entropy()),
    OpInfo("information.entropy[logits]", _disc(I.entropy, "logits"),
           lambda dt, g, b: (rn(g, dt, *b, 4),), grad=(0,), nan_name="logits",
           reference=lambda x: torch.distributions.Categorical(logits=x).entropy()),
    OpInfo("information.self_information", _disc(I.self_information),
           lambda dt, g, b: (ru(g, dt, *b, 4, low=0.1),), grad=(0,), domain="[0, 1]",
           nan_name="probs", reference=lambda p: -p.log()),
    OpInfo("information.joint_entropy", I.joint_entropy, _joint, grad=(0,),
           domain="probability table", nan_name="joint",
           reference=lambda j: torch.special.entr(j).sum((-2, -1))),
    OpInfo("information.conditional_entropy", I.conditional_entropy, _joint, grad=(0,),
           domain="probability table", nan_name="joint"),
    OpInfo("information.mutual_information", I.mutual_information, _joint, grad=(0,),
           domain="probability table", nan_name="joint"),
    OpInfo("information.gaussian_entropy", I.gaussian_entropy,
           lambda dt, g, b: (spd(g, dt, b, 3),), grad=(0,), domain="PD", nan_name="cov",
           reference=lambda c: torch.distributions.MultivariateNormal(
               torch.zeros(c.shape[-1], dtype=c.dtype), c).entropy()),
    OpInfo("information.gaussian_mutual_information",
           lambda c: I.gaussian_mutual_information(c, [0], [1, 2]),
           lambda dt, g, b: (spd(g, dt, b, 3),), grad=(0,), domain="PD", nan_name="cov"),
    OpInfo("information.knn_entropy", lambda x: I.knn_entropy(x, 2),
           lambda dt, g, b: (rn(g, dt, *b, 8, 2),), grad=(0,), nan_name="x",
           skips={"vmap": "the neighbour search runs under no_grad with in-place masking"}),
    OpInfo("information.ksg_mutual_information", lambda x, y: I.ksg_mutual_information(x, y, 2),
           lambda dt, g, b: (rn(g, dt, *b, 10, 1), rn(g, dt, *b, 10, 1)), nan_name="x",
           skips={"gradcheck": "counts of neighbours: piecewise constant",
                  "func": "counts of neighbours: piecewise constant",
                  "meta": "neighbour counts use torch.nonzero (a data-dependent size)",
                  "compile": "neighbour counts use torch.nonzero (a data-dependent size)",
                  "vmap": "the neighbour search runs under no_grad with in-place masking"}),
    OpInfo("information.mutual_info_scores",
           lambda X, y: I.mutual_info_scores(X, y, noise=0.0),
           lambda dt, g, b: (rn(g, dt, 12, 2), rn(g, dt, 12)), batched=(), nan_name="X",
           skips={"gradcheck": "counts of neighbours: piecewise constant",
                  "func": "counts of neighbours: piecewise constant",
                  "vmap": "features are scored one by one (a Python loop over columns)",
                  "compile": "per-feature neighbour counts with host-side tie handling",
                  "meta": "per-feature neighbour counts with host-side tie handling"}),
    OpInfo("information.select_features",
           lambda X, y: I.select_features(X, y, 1, noise=0.0),
           lambda dt, g, b: (rn(g, dt, 12, 2), rn(g, dt, 12)), batched=(), nan_name="X",
           skips={"gradcheck": NOT_DIFF, "func": NOT_DIFF, "dtype": "returns indices",
                  "vmap": "greedy selection on the host", "compile": "greedy selection",
                  "meta": "greedy selection on the host"}),
    OpInfo("information.kl_divergence", _disc(I.kl_divergence, "probs", "probs"), _pq,
           grad=(0, 1), domain="simplex", nan_name="p_probs",
           reference=lambda p, q: torch.distributions.kl_divergence(
               torch.distributions.Categorical(p), torch.distributions.Categorical(q))),
    OpInfo("information.kl_divergence[logits]", _disc(I.kl_divergence, "logits", "logits"),
           lambda dt, g, b: (rn(g, dt, *b, 4), rn(g, dt, *b, 4)), grad=(0, 1),
           nan_name="p_logits"),
    OpInfo("information.cross_entropy", _disc(I.cross_entropy, "probs", "logits"),
           lambda dt, g, b: (simplex(g, dt, *b, 4), rn(g, dt, *b, 4)), grad=(0, 1),
           domain="simplex", nan_name="p_probs",
           reference=lambda p, x: torch.nn.functional.cross_entropy(
               x.reshape(-1, 4), p.reshape(-1, 4), reduction="none").reshape(p.shape[:-1])),
    OpInfo("information.js_divergence", _disc(I.js_divergence, "probs", "probs"), _pq,
           grad=(0, 1), domain="simplex", nan_name="p_probs"),
    OpInfo("information.f_divergence", _disc(I.f_divergence, "probs", "probs", f="hellinger"),
           _pq, grad=(0, 1), domain="simplex", nan_name="p_probs"),
    OpInfo("information.gaussian_kl", I.gaussian_kl,
           lambda dt, g, b: (rn(g, dt, *b, 3), spd(g, dt, b, 3), rn(g, dt, *b, 3),
                             spd(g, dt, b, 3)),
           grad=(0, 1, 2, 3), domain="PD", nan_arg=1, nan_name="cov0",
           reference=lambda m0, c0, m1, c1: torch.distributions.kl_divergence(
               torch.distributions.MultivariateNormal(m0, c0),
               torch.distributions.MultivariateNormal(m1, c1))),
    OpInfo("information.gaussian_kl[diagonal]",
           lambda m0, v0, m1, v1: I.gaussian_kl(m0, v0, m1, v1, diagonal=True),
           lambda dt, g, b: (rn(g, dt, *b, 3), ru(g, dt, *b, 3, low=0.5), rn(g, dt, *b, 3),
                             ru(g, dt, *b, 3, low=0.5)),
           grad=(0, 1, 2, 3), domain="variances > 0", nan_arg=1, nan_name="cov0"),
    OpInfo("information.mixture_kl_upper_bound",
           lambda m0, m1: I.mixture_kl_upper_bound(
               torch.distributions.MixtureSameFamily(
                   torch.distributions.Categorical(torch.ones_like(m0)),
                   torch.distributions.Normal(m0, 1.0, validate_args=False),
                   validate_args=False),
               torch.distributions.MixtureSameFamily(
                   torch.distributions.Categorical(torch.ones_like(m1)),
                   torch.distributions.Normal(m1, 2.0, validate_args=False),
                   validate_args=False), n_iter=3),
           lambda dt, g, b: (rn(g, dt, *b, 2), rn(g, dt, *b, 2)), grad=(0, 1),
           nan_name="p component",
           skips={"vmap": "torch.distributions objects are built inside the op",
                  "meta": "torch.distributions.Categorical normalizes on construction"}),
    OpInfo("information.gaussian_kl_loss", I.gaussian_kl_loss,
           lambda dt, g, b: (rn(g, dt, *b, 4, 2), rn(g, dt, *b, 4, 2)), grad=(0, 1),
           nan="propagate"),
    OpInfo("information.GaussianKLLoss", lambda m, v: I.GaussianKLLoss(reduction="none")(m, v),
           lambda dt, g, b: (rn(g, dt, *b, 4, 2), rn(g, dt, *b, 4, 2)), grad=(0, 1),
           nan="propagate"),
    OpInfo("information.reconstruction_nll", I.reconstruction_nll,
           lambda dt, g, b: (rn(g, dt, *b, 4, 3), rn(g, dt, *b, 4, 3)), grad=(0, 1),
           nan="propagate",
           reference=lambda x, r: torch.nn.functional.gaussian_nll_loss(
               r, x, torch.ones_like(r), full=True, reduction="none").sum(-1)),
    OpInfo("information.elbo_loss",
           lambda x, r, m, v: I.elbo_loss(x, r, m, v, reduction="none"),
           lambda dt, g, b: (rn(g, dt, *b, 4, 3), rn(g, dt, *b, 4, 3), rn(g, dt, *b, 4, 2),
                             rn(g, dt, *b, 4, 2)), grad=(0, 1, 2, 3), nan="propagate"),
    OpInfo("information.ELBOLoss", lambda x, r, m, v: I.ELBOLoss(reduction="none")(x, r, m, v),
           lambda dt, g, b: (rn(g, dt, *b, 4, 3), rn(g, dt, *b, 4, 3), rn(g, dt, *b, 4, 2),
                             rn(g, dt, *b, 4, 2)), grad=(0, 1, 2, 3), nan="propagate"),
    OpInfo("information.iwae_bound", I.iwae_bound,
           lambda dt, g, b: (rn(g, dt, 5, *b, 2), rn(g, dt, 5, *b, 2), rn(g, dt, 5, *b, 2)),
           grad=(0, 1, 2), nan="propagate", batched=(),
           skips={"vmap": "the sample dimension is dim 0 by definition; the batch follows it"}),
    OpInfo("information.infonce_bound", I.infonce_bound,
           lambda dt, g, b: (rn(g, dt, *b, 4, 4),), grad=(0,), nan="propagate"),
    OpInfo("information.nwj_bound", I.nwj_bound,
           lambda dt, g, b: (rn(g, dt, *b, 4, 4),), grad=(0,), nan="propagate"),
    OpInfo("information.dv_bound", I.dv_bound,
           lambda dt, g, b: (rn(g, dt, *b, 4, 4),), grad=(0,), nan="propagate"),
]

# ---------------------------------------------------------------------------- learning theory
def _pts(dt, g, b):
    return (rn(g, dt, *b, 3, 2),)


LEARNING_THEORY = [
    OpInfo("learning_theory.l1_penalty", LT.l1_penalty,
           lambda dt, g, b: (rn(g, dt, *b, 4),), grad=(0,), nan="propagate",
           batched=(), reference=lambda w: w.abs().sum()),
    OpInfo("learning_theory.l2_penalty", LT.l2_penalty,
           lambda dt, g, b: (rn(g, dt, *b, 4),), grad=(0,), nan="propagate", batched=()),
    OpInfo("learning_theory.elastic_net_penalty", LT.elastic_net_penalty,
           lambda dt, g, b: (rn(g, dt, *b, 4),), grad=(0,), nan="propagate", batched=()),
    OpInfo("learning_theory.hoeffding_bound", lambda n, d: LT.hoeffding_bound(n, d),
           lambda dt, g, b: (ru(g, dt, *b, 3, low=10, high=100), ru(g, dt, *b, 3, low=0.01,
                                                                      high=0.2)),
           grad=(0, 1), nan_arg=1, nan_name="delta",
           reference=lambda n, d: torch.sqrt(torch.log(2 / d) / (2 * n))),
    OpInfo("learning_theory.pac_sample_complexity",
           lambda e, d: LT.pac_sample_complexity(e, d, hypothesis_count=100),
           lambda dt, g, b: (ru(g, dt, *b, 3, low=0.05, high=0.2), ru(g, dt, *b, 3, low=0.01,
                                                                       high=0.2)),
           nan_name="epsilon",
           skips={"gradcheck": "rounded up to an integer sample size",
                  "dtype": "an integer sample size",
                  "func": "rounded up to an integer sample size"}),
    OpInfo("learning_theory.pac_generalization_bound",
           lambda n, d: LT.pac_generalization_bound(n, d, hypothesis_count=100),
           lambda dt, g, b: (ru(g, dt, *b, 3, low=10, high=100), ru(g, dt, *b, 3, low=0.01,
                                                                      high=0.2)),
           grad=(0, 1), nan_arg=1, nan_name="delta"),
    OpInfo("learning_theory.log_growth_bound", LT.log_growth_bound,
           lambda dt, g, b: (ru(g, dt, *b, 3, low=5, high=50), torch.full((*b, 3), 2.0,
                                                                          dtype=dt)),
           grad=(0,), nan_name="n",
           skips={"nan": "elementwise bound: a NaN count gives NaN (documented)"}),
    OpInfo("learning_theory.growth_function_bound",
           lambda n: LT.growth_function_bound(n, 2, log=True),
           lambda dt, g, b: (torch.randint(5, 50, (*b, 3), generator=g).to(dt),), nan_name="n",
           skips={"vmap": "the number of binomial terms, min(n, d), is read on the host",
                  "compile": "the number of binomial terms, min(n, d), is read on the host",
                  "meta": "the number of binomial terms, min(n, d), is read on the host",
                  "gradcheck": "a sum of binomial coefficients over integers",
                  "func": "a sum of binomial coefficients over integers"}),
    OpInfo("learning_theory.vc_generalization_bound",
           lambda n, d: LT.vc_generalization_bound(n, 3, d),
           lambda dt, g, b: (ru(g, dt, *b, 3, low=50, high=500), ru(g, dt, *b, 3, low=0.01,
                                                                       high=0.2)),
           grad=(0, 1), nan_arg=1, nan_name="delta"),
    OpInfo("learning_theory.empirical_rademacher_complexity",
           lambda h: LT.empirical_rademacher_complexity(h, n_draws=None),
           lambda dt, g, b: (torch.sign(rn(g, dt, *b, 3, 4)),), nan_name="outputs",
           skips={"gradcheck": "a maximum over hypotheses (piecewise linear, sign data)",
                  "func": "a maximum over hypotheses"}),
    OpInfo("learning_theory.can_shatter", lambda p: LT.can_shatter(p, "halfspace"), _pts,
           nan_name="points",
           skips={"gradcheck": "returns a bool tensor", "func": "returns a bool tensor",
                  "dtype": "returns a bool tensor",
                  "vmap": "an LP feasibility search per labelling (solver with host checks)",
                  "compile": SYNC_SOLVER, "meta": SYNC_SOLVER}),
    OpInfo("learning_theory.realizable_labellings",
           lambda p: LT.realizable_labellings(p, "interval"),
           lambda dt, g, b: (rn(g, dt, *b, 3, 1),), nan_name="points",
           skips={"gradcheck": "returns a bool tensor", "func": "returns a bool tensor",
                  "dtype": "returns a bool tensor"}),
    OpInfo("learning_theory.bias_variance_from_predictions",
           lambda p, y: LT.bias_variance_from_predictions(p, y),
           lambda dt, g, b: (rn(g, dt, 5, 4), rn(g, dt, 4)), grad=(0, 1), batched=(),
           nan="propagate",
           skips={"vmap": "rows are the models by definition (dim 0); no batch dimension"}),
    OpInfo("learning_theory.add_gaussian_noise",
           lambda x: LT.add_gaussian_noise(x, 0.1, generator=torch.Generator().manual_seed(0)),
           lambda dt, g, b: (rn(g, dt, *b, 4),), grad=(0,), nan="propagate",
           skips={"vmap": RANDOM, "compile": "takes a torch.Generator",
                  "meta": "draws from a CPU generator", "func": RANDOM}),
    OpInfo("learning_theory.annealed_weight",
           lambda s: torch.as_tensor(LT.annealed_weight(3, 0.0, 1.0, 10, kind="cosine"))
           + 0 * s, lambda dt, g, b: (rn(g, dt, *b, 1),),
           skips={"gradcheck": HOST_RESULT, "func": HOST_RESULT, "nan": HOST_RESULT,
                  "dtype": HOST_RESULT, "meta": HOST_RESULT, "vmap": HOST_RESULT,
                  "compile": HOST_RESULT}),
]

OPS: list[OpInfo] = PROBABILITY + LINALG + OPTIM + INFORMATION + LEARNING_THEORY

# Public names that are not registered functions, and why. Each is tested elsewhere.
_ESTIMATOR = "an estimator (nn.Module with fit): torchmath.testing.check_estimator"
_RESULT = "a result type (NamedTuple/dataclass) returned by a registered function"
_KERNEL = ("an in-place optimizer kernel (mutates its lists of tensors): tested step by step "
           "against torch.optim in tests/optim")
_MODULE = "an nn.Module / context manager over a user's model: tests/learning_theory"
_HOST = "works on a Python callable or a model and returns host-side results"
EXCLUDED: dict[str, str] = {
    **{f"probability.{n}": _ESTIMATOR for n in (
        "BayesianLinearRegression", "BernoulliNaiveBayes", "GaussianMixture",
        "GaussianNaiveBayes", "MultinomialNaiveBayes", "RunningMoments")},
    **{f"probability.{n}": _RESULT for n in ("MLEResult", "MVNMLE", "ConjugatePosterior",
                                             "NormalMLE")},
    "probability.fit_mle": _HOST + " (an optimizer loop): tests/probability/test_estimation.py",
    **{f"linalg.{n}": _ESTIMATOR for n in ("LinearRegression", "PCA", "RidgeCV",
                                           "RidgeRegression", "ScatterMatrix")},
    **{f"linalg.{n}": _RESULT for n in ("EighResult", "ImagePCAResult", "LstsqResult",
                                        "SVDResult")},
    "linalg.CholeskyJitterWarning": "a warning class",
    **{f"optim.{n}": _RESULT for n in ("ConvexResult", "SolverStatus", "GradientCheck",
                                       "ConvexityCheck", "MinimizeResult", "Trace",
                                       "ConstrainedResult", "KKTResiduals")},
    "optim.NonFiniteError": "an exception class",
    **{f"optim.{n}": "a torch.optim.Optimizer: tests/optim (parity with torch.optim)" for n in (
        "Adam", "AdaGrad", "RMSProp", "Newton", "ProjectedGradient", "ProximalGradient",
        "GradientDescent", "Momentum")},
    "optim.QPLayer": "an nn.Module over solve_qp (registered): tests/optim/test_qp.py",
    "optim.LogisticRegression": _ESTIMATOR,
    **{f"optim.{n}": _KERNEL for n in (
        "adam_update", "adagrad_update", "rmsprop_update", "proximal_gradient_update",
        "gradient_descent_update", "momentum_update")},
    **{f"optim.{n}": _HOST + ": tests/optim" for n in (
        "check_gradient", "is_convex", "lipschitz_constant", "minimize", "augmented_lagrangian",
        "kkt_residuals", "lagrangian", "conjugate_gradient", "heavy_ball_parameters",
        "linear_rate")},
    **{f"information.{n}": "an nn.Module with learned critics: tests/information/test_neural.py"
       for n in ("MINE", "NWJ", "InfoNCE", "ConcatCritic", "SeparableCritic")},
    "information.VAE": "a model (nn.Module): tests/information (VAE tests)",
    "information.VariationalInformationBottleneck": "a model (nn.Module): tests/information",
    "information.MonteCarloKL": _RESULT,
    "information.mlp": "builds an nn.Sequential; no tensor input",
    "learning_theory.DROPOUT_TYPES": "a constant",
    "learning_theory.HYPOTHESIS_CLASSES": "a constant",
    **{f"learning_theory.{n}": _MODULE for n in (
        "EarlyStopping", "GaussianDropout", "MCDropout", "enable_mc_dropout", "mc_dropout_mode",
        "mc_predict", "Regularizer", "TorchModel")},
    **{f"learning_theory.{n}": _ESTIMATOR for n in ("ElasticNet", "Lasso")},
    "learning_theory.BiasVariance": _RESULT,
    "learning_theory.ConvergenceWarning": "a warning class",
    "learning_theory.bias_variance_decomposition": _HOST + " (refits a model per round)",
    "learning_theory.vc_dimension": _HOST + " (a search over point sets)",
    "learning_theory.all_labellings": "integer enumeration {0,1}^n: tests/learning_theory",
    "learning_theory.elastic_net": SYNC_SOLVER + ": tests/learning_theory/test_elastic_net.py",
    "learning_theory.elastic_net_gram": SYNC_SOLVER + ": tests/learning_theory",
    "learning_theory.soft_threshold": "re-export of optim.soft_threshold (registered)",
    "learning_theory.prox_elastic_net": "re-export of optim.prox_elastic_net (registered)",
    "probability.safe_cholesky": "re-export of linalg.safe_cholesky (registered)",
    **{f"learning_theory.{n}": "draws random augmentations from a generator: "
       "tests/learning_theory/test_augmentation.py" for n in (
        "cutmix", "mixup", "random_crop_flip", "sample_beta")},
}


def by_name(name: str) -> OpInfo:
    return next(op for op in OPS if op.name == name)


def reference_value(op: OpInfo, args: tuple):
    """The reference's value on ``args``, or None where it does not apply to that shape."""
    if op.reference is None:
        return None
    return op.reference(*args)

