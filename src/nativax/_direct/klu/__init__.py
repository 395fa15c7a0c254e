"""SuiteSparse KLU engine: raw FFI calls, the functional API and the lineax solver."""
