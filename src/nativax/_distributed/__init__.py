"""Multi-device dense SPD Cholesky/inverse/solve: checks, shard-local kernels, engines shard_map and cuSOLVERMg, lineax solver."""
