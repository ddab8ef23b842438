"""The step profile's path, on a tiny layer: every piece is timed and reported.

Timings are printed, never checked (performance targets live in benchmarks). What is checked:
each row appears with a positive time, the one-tanh gates compute what the four separate
activations compute, and bad sizes are refused.
"""

import re

import numpy as np

import pytest

TINY = ["--batch", "2", "--units", "4", "--embedding-dim", "3", "--steps", "3",
        "--repeats", "1"]
ROW = r"^  {}\s+(\d+\.\d+) ms  \(\d+\.\d+-\d+\.\d+\)  \S"


@pytest.fixture(scope="module")
def step_profile(load_benchmark):
    return load_benchmark("step_profile")


@pytest.mark.parametrize("torch", [False, True], ids=["tensorflow_only", "with_torch"])
def test_every_piece_is_timed_and_reported(step_profile, capsys, torch):
    if torch:
        pytest.importorskip("torch")
    result = step_profile.main(TINY + ([] if torch else ["--no-torch"]))
    out = capsys.readouterr().out
    names = [*step_profile.loop_bodies(4, np.zeros((4, 16), "float32")), "tf_graph_3", "tf_xla_3", "tf_graph_4",
             "tf_xla_4", "regkeras_layer", "regkeras_width_1"]
    torch_names = ["torch_3", "torch_4", "torch_layer", "torch_width_1"]
    for name in names + (torch_names if torch else []):
        row = re.search(ROW.format(name), out, re.M)
        assert row is not None and float(row[1]) > 0, f"no row for {name}:\n{out}"
    for name in ([] if torch else torch_names):
        assert not re.search(ROW.format(name), out, re.M), name
    assert "Machine: " in out and re.search(
        r"runs at \(GFLOP/s\) product \d+, product_transposed \d+, product_bf16 \d+", out)
    assert re.search(r"regkeras's loop, per step: \d+\.\d+ ms", out)
    assert bool(re.search(r"PyTorch's loop, per step: \d+\.\d+ ms", out)) == torch
    # The one tanh and the four activations agree to float32 rounding (a wrong scale or
    # offset in engine.standard_gates would differ by O(0.1)).
    assert max(result["differences"].values()) < 1e-5, result["differences"]


@pytest.mark.parametrize("flag", ["--units", "--batch", "--steps", "--repeats"])
def test_sizes_below_one_are_refused(step_profile, capsys, flag):
    with pytest.raises(SystemExit):
        step_profile.main(TINY + [flag, "0"])
    assert f"argument {flag}: must be at least 1, got 0" in capsys.readouterr().err
