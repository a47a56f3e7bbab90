"""PyTorch Lightning callbacks (thin shells over the areas). Not built yet: see the README."""

__all__: list[str] = []
