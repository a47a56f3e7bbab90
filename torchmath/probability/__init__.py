"""Area 1 of the course: probability and statistics.

Bayes' theorem, normal and multivariate normal distributions, moments, MLE/MAP and
conjugate Bayesian estimation, Naive Bayes, Gaussian mixtures, Bayesian linear regression.
"""

from torchmath.linalg import safe_cholesky
from torchmath.probability.bayes import bayes_posterior, conditional, marginal
from torchmath.probability.distributions import mvn_log_prob, mvn_sample, normal_log_prob
from torchmath.probability.moments import RunningMoments, corr, cov, mean, var

__all__ = [
    "RunningMoments",
    "bayes_posterior",
    "conditional",
    "corr",
    "cov",
    "marginal",
    "mean",
    "mvn_log_prob",
    "mvn_sample",
    "normal_log_prob",
    "safe_cholesky",
    "var",
]
