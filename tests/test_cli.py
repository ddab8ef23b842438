"""The main job, `python -m regkeras compare`: arguments, and one tiny end-to-end run."""

import json
import os
import subprocess
import sys

import pytest

from regkeras import cli


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", "--dataset", "wikipedia"], "--dataset must be one of"),
        (["compare", "--dataset", "/no/such/file.txt"], "--dataset must be one of"),
        (["compare", "--epochs", "0"], "--epochs must be a positive integer"),
        (["compare", "--epochs", "ten"], "--epochs must be a positive integer"),
        (["compare", "--seed", "-1"], "--seed must be an integer >= 0"),
        (["compare", "--temperature", "0"], "--temperature must be a positive number"),
        (["compare", "--level", "byte"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_arguments_exit_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_local_file_is_a_valid_dataset(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("hello world\n" * 10)
    args = cli.build_parser().parse_args(["compare", "--dataset", str(path)])
    assert args.dataset == str(path)
    assert cli._settings(args)["epochs"] == cli.FALLBACK_DEFAULTS["epochs"]


@pytest.mark.slow
def test_compare_writes_table_curves_samples_and_models(tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "regkeras", "compare", "--epochs", "2", "--num-words",
               "1500", "--units", "16", "--seq-len", "32", "--sample-length", "40", "--quiet",
               "--out", str(out)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert run.returncode == 0, run.stderr[-3000:]
    for column in ("train_loss", "val_loss", "test_loss", "gap", "best_epoch", "wall_s"):
        assert column in run.stdout
    assert "baseline" in run.stdout and "regularized" in run.stdout
    png = (out / "loss_curves.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    samples = (out / "samples.txt").read_text()
    assert "--- baseline" in samples and "--- regularized" in samples
    results = json.loads((out / "results.json").read_text())
    assert [row["name"] for row in results["rows"]] == ["baseline", "regularized"]
    assert all(len(h["loss"]) == row["epochs_run"]
               for h, row in zip(results["histories"].values(), results["rows"]))
    for name in ("baseline", "regularized"):
        assert (out / f"{name}.keras").exists() and (out / f"{name}.vocab.json").exists()
