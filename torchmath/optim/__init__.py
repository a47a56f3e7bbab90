"""Area 3 of the course: optimization.

Calculus by autograd, optimizers that subclass ``torch.optim.Optimizer``, convergence,
constrained optimization, batched differentiable LP and QP, logistic regression.
Not built yet: see the README's feature table.
"""

from torchmath.optim.logistic import LogisticRegression, logistic_loss
from torchmath.optim.lp import ConvexResult, SolverStatus, solve_lp
from torchmath.optim.qp import QPLayer, solve_qp
from torchmath.optim.proximal import (
    prox_elastic_net,
    prox_l2,
    prox_nonneg,
    prox_squared_l2,
    soft_threshold,
)

__all__: list[str] = [
    "ConvexResult",
    "SolverStatus",
    "solve_lp",
    "LogisticRegression",
    "logistic_loss",
    "QPLayer",
    "solve_qp",
    "prox_elastic_net",
    "prox_l2",
    "prox_nonneg",
    "prox_squared_l2",
    "soft_threshold",
]
