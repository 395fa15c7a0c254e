"""The UMFPACK engine: multifrontal sparse LU for general square operators."""
