"""Sparsity detection, coloring and compressed differentiation (internal; public API in `nativax.sparsity`)."""
