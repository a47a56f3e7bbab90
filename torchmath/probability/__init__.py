"""Area 1 of the course: probability and statistics.

Bayes' theorem, normal and multivariate normal distributions, moments, MLE/MAP and
conjugate Bayesian estimation, Naive Bayes, Gaussian mixtures, Bayesian linear regression.
"""

from torchmath.linalg import safe_cholesky
from torchmath.probability.distributions import mvn_log_prob

__all__ = ["mvn_log_prob", "safe_cholesky"]
