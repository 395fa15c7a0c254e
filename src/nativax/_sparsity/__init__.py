"""Jacobian sparsity: jaxpr interpreter + index-set rules, coloring, compressed materialisation."""
