"""The generative model (vae) and the combined loss it trains on (losses)."""
from .vae import SpectrogramVAE

__all__ = ["SpectrogramVAE"]
