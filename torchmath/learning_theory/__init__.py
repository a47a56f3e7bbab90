"""Area 5 of the course: learning theory.

PAC and VC bounds, bias-variance decomposition, L1/L2/elastic-net regularization, early
stopping, dropout, data augmentation. Not built yet: see the README's feature table.
"""

__all__: list[str] = []
