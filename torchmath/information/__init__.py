"""Area 4 of the course: information theory.

Entropy, KL divergence and cross-entropy, mutual information and feature selection, KL and
ELBO losses, VAE and the variational information bottleneck.
Not built yet: see the README's feature table.
"""

__all__: list[str] = []
