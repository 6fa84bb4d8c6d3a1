"""torch_mlsd: the data side of model development, as parts for PyTorch training."""

__version__ = "0.1.0"
