"""Area 1 of the course: probability and statistics.

Bayes' theorem, normal and multivariate normal distributions, moments, MLE/MAP and
conjugate Bayesian estimation, Naive Bayes, Gaussian mixtures, Bayesian linear regression.
"""

from torchmath.linalg import safe_cholesky
from torchmath.probability.bayes import bayes_posterior, conditional, marginal
from torchmath.probability.bayesian_regression import BayesianLinearRegression
from torchmath.probability.conjugate import (
    ConjugatePosterior,
    beta_bernoulli,
    dirichlet_categorical,
    gamma_poisson,
    normal_inverse_gamma,
    normal_normal,
)
from torchmath.probability.distributions import mvn_log_prob, mvn_sample, normal_log_prob
from torchmath.probability.estimation import (
    MVNMLE,
    MLEResult,
    NormalMLE,
    fit_mle,
    mle_bernoulli,
    mle_categorical,
    mle_exponential,
    mle_mvn,
    mle_normal,
    mle_poisson,
)
from torchmath.probability.mixture import GaussianMixture
from torchmath.probability.moments import RunningMoments, corr, cov, mean, var
from torchmath.probability.naive_bayes import (
    BernoulliNaiveBayes,
    GaussianNaiveBayes,
    MultinomialNaiveBayes,
)

__all__ = [
    "BayesianLinearRegression",
    "BernoulliNaiveBayes",
    "GaussianMixture",
    "GaussianNaiveBayes",
    "MultinomialNaiveBayes",
    "MLEResult",
    "MVNMLE",
    "ConjugatePosterior",
    "NormalMLE",
    "RunningMoments",
    "bayes_posterior",
    "beta_bernoulli",
    "conditional",
    "corr",
    "cov",
    "dirichlet_categorical",
    "fit_mle",
    "gamma_poisson",
    "marginal",
    "mean",
    "mle_bernoulli",
    "mle_categorical",
    "mle_exponential",
    "mle_mvn",
    "mle_normal",
    "mle_poisson",
    "mvn_log_prob",
    "mvn_sample",
    "normal_inverse_gamma",
    "normal_log_prob",
    "normal_normal",
    "safe_cholesky",
    "var",
]
