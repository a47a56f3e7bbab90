"""Area 5 of the course: learning theory.

PAC and VC bounds, shattering and Rademacher complexity, the bias-variance decomposition,
L1/L2/elastic-net regularization (with the Lasso and ElasticNet estimators), early
stopping, dropout and data augmentation.
"""

from torchmath.learning_theory.augmentation import (
    add_gaussian_noise,
    cutmix,
    mixup,
    random_crop_flip,
    sample_beta,
)
from torchmath.learning_theory.bias_variance import (
    BiasVariance,
    TorchModel,
    bias_variance_decomposition,
    bias_variance_from_predictions,
)
from torchmath.learning_theory.dropout import (
    DROPOUT_TYPES,
    GaussianDropout,
    MCDropout,
    enable_mc_dropout,
    mc_dropout_mode,
    mc_predict,
)
from torchmath.learning_theory.early_stopping import EarlyStopping
from torchmath.learning_theory.elastic_net import (
    ElasticNet,
    Lasso,
    elastic_net,
    elastic_net_gram,
)
from torchmath.learning_theory.pac import (
    hoeffding_bound,
    log_growth_bound,
    pac_generalization_bound,
    pac_sample_complexity,
)
from torchmath.learning_theory.regularization import (
    Regularizer,
    elastic_net_penalty,
    l1_penalty,
    l2_penalty,
    prox_elastic_net,
    soft_threshold,
)
from torchmath.learning_theory.schedules import annealed_weight
from torchmath.learning_theory.vc import (
    HYPOTHESIS_CLASSES,
    all_labellings,
    can_shatter,
    empirical_rademacher_complexity,
    growth_function_bound,
    realizable_labellings,
    vc_dimension,
    vc_generalization_bound,
)

__all__ = [
    "DROPOUT_TYPES",
    "EarlyStopping",
    "GaussianDropout",
    "MCDropout",
    "add_gaussian_noise",
    "annealed_weight",
    "cutmix",
    "enable_mc_dropout",
    "mc_dropout_mode",
    "mc_predict",
    "mixup",
    "random_crop_flip",
    "sample_beta",
    "HYPOTHESIS_CLASSES",
    "BiasVariance",
    "ElasticNet",
    "Lasso",
    "Regularizer",
    "TorchModel",
    "all_labellings",
    "bias_variance_decomposition",
    "bias_variance_from_predictions",
    "can_shatter",
    "elastic_net",
    "elastic_net_gram",
    "elastic_net_penalty",
    "empirical_rademacher_complexity",
    "growth_function_bound",
    "hoeffding_bound",
    "l1_penalty",
    "l2_penalty",
    "log_growth_bound",
    "pac_generalization_bound",
    "pac_sample_complexity",
    "prox_elastic_net",
    "realizable_labellings",
    "soft_threshold",
    "vc_dimension",
    "vc_generalization_bound",
]
