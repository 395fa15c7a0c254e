"""examples/multiprocess_gp.py launches itself on 2 local processes x 2 CPU devices and matches jnp.linalg."""

import runpy
from pathlib import Path

from multiprocess import require_loopback

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "multiprocess_gp.py"


def test_multiprocess_gp_small():
    require_loopback()  # the example's workers talk over 127.0.0.1 (gloo uses the hostname's address)
    main = runpy.run_path(str(EXAMPLE), run_name="nativax_example_multiprocess_gp")["main"]
    out = main(small=True, timeout=240)
    assert out["processes"] == 2 and out["devices"] == 4
    assert out["mean_err"] < 1e-10, out["mean_err"]
    assert out["lml_err"] < 1e-10, out["lml_err"]
    assert out["grad_err"] < 1e-8, out["grad_err"]
    assert out["neg_lml_history"][-1] < out["neg_lml_history"][0]
    assert out["test_rmse"] < 0.2, out["test_rmse"]
