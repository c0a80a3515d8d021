"""Neural Playground: train real PyTorch models and watch them learn."""
__version__ = "0.1.0"
