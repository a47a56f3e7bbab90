"""Area 3 of the course: optimization.

Calculus by autograd, optimizers that subclass ``torch.optim.Optimizer``, convergence,
constrained optimization, batched differentiable LP and QP, logistic regression.
Not built yet: see the README's feature table.
"""

__all__: list[str] = []
