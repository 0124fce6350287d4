"""The torch backend: objectives compiled into batched tensor code
(:func:`compile_torch`, docs/torch.md). Importing it imports torch."""
from .compile import ObjectiveModule, compile_torch

__all__ = ["ObjectiveModule", "compile_torch"]
