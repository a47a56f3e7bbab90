"""Area 3 of the course: optimization.

Calculus by autograd, optimizers that subclass ``torch.optim.Optimizer``, convergence,
constrained optimization, batched differentiable LP and QP, logistic regression.
Not built yet: see the README's feature table.
"""

from torchmath.optim.adam import Adam, adam_update
from torchmath.optim.adaptive import AdaGrad, RMSProp, adagrad_update, rmsprop_update
from torchmath.optim.calculus import (
    ConvexityCheck,
    GradientCheck,
    check_gradient,
    gradient,
    hessian,
    hvp,
    is_convex,
    jacobian,
    lipschitz_constant,
)
from torchmath.optim.constrained import (
    ConstrainedResult,
    KKTResiduals,
    augmented_lagrangian,
    kkt_residuals,
    lagrangian,
)
from torchmath.optim.convergence import (
    MinimizeResult,
    NonFiniteError,
    Trace,
    heavy_ball_parameters,
    linear_rate,
    measured_rate,
    minimize,
    smoothness_constants,
    step_size_bound,
)
from torchmath.optim.logistic import LogisticRegression, logistic_loss
from torchmath.optim.lp import ConvexResult, SolverStatus, solve_lp
from torchmath.optim.newton import Newton, conjugate_gradient
from torchmath.optim.projections import (
    project_box,
    project_l1_ball,
    project_l2_ball,
    project_simplex,
)
from torchmath.optim.proximal import (
    prox_elastic_net,
    prox_l2,
    prox_nonneg,
    prox_squared_l2,
    soft_threshold,
)
from torchmath.optim.proximal_gradient import (
    ProjectedGradient,
    ProximalGradient,
    proximal_gradient_update,
)
from torchmath.optim.qp import QPLayer, solve_qp
from torchmath.optim.sgd import (
    GradientDescent,
    Momentum,
    gradient_descent_update,
    momentum_update,
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
    "Adam",
    "adam_update",
    "AdaGrad",
    "RMSProp",
    "adagrad_update",
    "rmsprop_update",
    "ConvexityCheck",
    "GradientCheck",
    "check_gradient",
    "gradient",
    "hessian",
    "hvp",
    "is_convex",
    "jacobian",
    "lipschitz_constant",
    "Newton",
    "conjugate_gradient",
    "project_box",
    "project_l1_ball",
    "project_l2_ball",
    "project_simplex",
    "ProjectedGradient",
    "ProximalGradient",
    "proximal_gradient_update",
    "GradientDescent",
    "Momentum",
    "gradient_descent_update",
    "momentum_update",
    "MinimizeResult",
    "NonFiniteError",
    "Trace",
    "heavy_ball_parameters",
    "linear_rate",
    "measured_rate",
    "minimize",
    "smoothness_constants",
    "step_size_bound",
    "ConstrainedResult",
    "KKTResiduals",
    "augmented_lagrangian",
    "kkt_residuals",
    "lagrangian",
]
