"""Generated PyTorch modules (written by `basis-compiler generate`; do not edit)."""
