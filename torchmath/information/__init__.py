"""Area 4 of the course: information theory.

Entropy, KL divergence and cross-entropy, mutual information and feature selection, KL and
ELBO losses, VAE and the variational information bottleneck. Importing this package
registers analytic KLs between ``MultivariateNormal`` and diagonal normals
(``Independent(Normal, 1)``) with ``torch.distributions.kl.register_kl``.
"""

from torchmath.information.divergence import (
    MonteCarloKL,
    cross_entropy,
    f_divergence,
    gaussian_kl,
    js_divergence,
    kl_divergence,
    mixture_kl_upper_bound,
)
from torchmath.information.entropy import (
    conditional_entropy,
    entropy,
    gaussian_entropy,
    joint_entropy,
    knn_entropy,
    self_information,
)
from torchmath.information.losses import (
    ELBOLoss,
    GaussianKLLoss,
    elbo_loss,
    gaussian_kl_loss,
    iwae_bound,
    reconstruction_nll,
)
from torchmath.information.mutual_info import (
    gaussian_mutual_information,
    ksg_mutual_information,
    mutual_info_scores,
    mutual_information,
    select_features,
)
from torchmath.information.neural import (
    MINE,
    NWJ,
    ConcatCritic,
    InfoNCE,
    SeparableCritic,
    dv_bound,
    infonce_bound,
    nwj_bound,
)
from torchmath.information.vae import VAE, VariationalInformationBottleneck, mlp

__all__ = [
    "MINE",
    "NWJ",
    "VAE",
    "ConcatCritic",
    "ELBOLoss",
    "GaussianKLLoss",
    "InfoNCE",
    "MonteCarloKL",
    "SeparableCritic",
    "VariationalInformationBottleneck",
    "conditional_entropy",
    "cross_entropy",
    "dv_bound",
    "elbo_loss",
    "entropy",
    "f_divergence",
    "gaussian_entropy",
    "gaussian_kl",
    "gaussian_kl_loss",
    "gaussian_mutual_information",
    "infonce_bound",
    "iwae_bound",
    "joint_entropy",
    "js_divergence",
    "kl_divergence",
    "knn_entropy",
    "ksg_mutual_information",
    "mixture_kl_upper_bound",
    "mlp",
    "mutual_info_scores",
    "mutual_information",
    "nwj_bound",
    "reconstruction_nll",
    "select_features",
    "self_information",
]
