"""The command line: `compare` (the main job) and `tune`: arguments, tiny end-to-end runs,
and the main job surviving SIGKILL."""

import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import regkeras  # noqa: F401  (registers the layers the saved models use)

from regkeras import cli


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", "--dataset", "wikipedia"], "--dataset must be one of"),
        (["compare", "--dataset", "/no/such/file.txt"], "--dataset must be one of"),
        (["compare", "--epochs", "0"], "--epochs must be a positive integer"),
        (["compare", "--epochs", "ten"], "--epochs must be a positive integer"),
        (["compare", "--layers", "0"], "--num-layers must be a positive integer"),
        (["compare", "--seed", "-1"], "--seed must be an integer in [0, 4294967295]"),
        (["compare", "--seed", str(2**70)], "--seed must be an integer in [0, 4294967295]"),
        (["compare", "--temperature", "0"], "--temperature must be a positive number"),
        (["compare", "--level", "byte"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
        (["tune", "--max-trials", "0"], "--max-trials must be a positive integer"),
        (["tune", "--tuner", "grid"], "invalid choice"),
        (["tune", "--corpus", "wikipedia"], "--dataset must be one of"),
        (["tune", "--epochs", "-2"], "--epochs must be a positive integer"),
        (["tune", "--seed", "x"], "--seed must be an integer in [0, 4294967295]"),
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
    # Progress a person can follow, in plain lines when the output is not a terminal.
    assert "[configuration 1 of 2] baseline: no regularization; 2 epochs" in run.stdout
    assert "[configuration 2 of 2] regularized: dropout" in run.stdout
    assert "early stopping with patience 5" in run.stdout
    assert "\x1b[" not in run.stdout and "\x08" not in run.stdout
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


@pytest.mark.parametrize("command", ["compare", "tune"])
def test_num_layers_is_the_builders_name_and_layers_still_works(command):
    parse = cli.build_parser().parse_args
    assert cli._settings(parse([command, "--num-layers", "3"]))["num_layers"] == 3
    assert cli._settings(parse([command, "--layers", "3"]))["num_layers"] == 3  # former flag
    assert cli._settings(parse([command]))["num_layers"] == cli.DEFAULTS["recipes"]["num_layers"]


def test_tune_arguments_and_defaults():
    args = cli.build_parser().parse_args(["tune", "--corpus", "recipes", "--max-trials", "3"])
    assert (args.dataset, args.tuner, args.max_trials, args.seed) == ("recipes", "random", 3, 0)
    assert cli._settings(args)["epochs"] == cli.DEFAULTS["recipes"]["epochs"]
    args = cli.build_parser().parse_args(["tune", "--dataset", "recipes", "--tuner", "bayesian"])
    assert args.dataset == "recipes" and args.tuner == "bayesian"


TINY_COMPARE = ["--epochs", "4", "--num-words", "1500", "--units", "16", "--seq-len", "32",
                "--batch-size", "16", "--sample-length", "20", "--quiet", "--resume"]


def _compare_command(out, seed=0):
    return [sys.executable, "-m", "regkeras", "compare", *TINY_COMPARE, "--seed", str(seed),
            "--out", str(out)]


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _run_compare(out, in_process=False, expect_in_stdout=()):
    if in_process:
        assert cli.main(_compare_command(out)[3:]) == 0
    else:
        run = subprocess.run(_compare_command(out), capture_output=True, text=True,
                             timeout=600, env=_env())
        assert run.returncode == 0, run.stderr[-3000:]
        for fragment in expect_in_stdout:
            assert fragment in run.stdout, (fragment, run.stdout[-3000:])
    return _outcome(out)


def _outcome(out):
    """The job's numbers (results.json without wall times) and the saved models' weights."""
    results = json.loads((out / "results.json").read_text())
    rows = [{k: v for k, v in row.items() if k != "wall_s"} for row in results["rows"]]
    weights = {}
    for name in ("baseline", "regularized"):
        model = keras.saving.load_model(out / f"{name}.keras", safe_mode=True)
        weights[name] = [np.asarray(w) for w in model.get_weights()]
    return rows, results["histories"], weights


def _max_difference(a, b):
    """Largest absolute difference between two outcomes; also checks they have one shape."""
    rows_a, hist_a, w_a = a
    rows_b, hist_b, w_b = b
    diff = 0.0
    assert [r["name"] for r in rows_a] == [r["name"] for r in rows_b]
    for ra, rb in zip(rows_a, rows_b):
        assert ra.keys() == rb.keys()
        for k in ra:
            x, y = ra[k], rb[k]
            if isinstance(x, float) and isinstance(y, float) and math.isfinite(x):
                diff = max(diff, abs(x - y))
            else:
                assert x == y, (ra["name"], k, x, y)
    for name in hist_a:
        assert hist_a[name]["epoch"] == hist_b[name]["epoch"]
        for k in ("loss", "val_loss"):
            diff = max(diff, float(np.max(np.abs(np.subtract(hist_a[name][k], hist_b[name][k])))))
    for name in w_a:
        assert len(w_a[name]) == len(w_b[name])
        for x, y in zip(w_a[name], w_b[name]):
            diff = max(diff, float(np.max(np.abs(x - y))))
    return diff


def _backup_epoch(out):
    """The furthest epoch either configuration has backed up (0 = none yet)."""
    best = 0
    from regkeras.callbacks import ResumableBackupAndRestore

    for name in ("baseline", "regularized"):
        try:
            best = max(best, ResumableBackupAndRestore.resume_epoch(out / "backup" / name))
        except (OSError, ValueError, KeyError):
            pass
    return best


# TensorFlow on CPU is not guaranteed bit-exact from one process to the next. Measured on the
# 2-core development machine, two uninterrupted runs of this job (in two processes, or one
# in-process and one in a subprocess) and the resumed run all agreed exactly (difference 0);
# the stated bound leaves room for a platform whose kernels are not bit-exact (losses in nats,
# weights of a 16-unit model).
RESUME_TOLERANCE = 1e-5


@pytest.mark.slow
def test_sigkilled_main_job_resumes_to_the_same_results(tmp_path):
    reference = _run_compare(tmp_path / "a", in_process=True)

    out = tmp_path / "b"
    proc = subprocess.Popen(_compare_command(out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=_env())
    try:
        deadline = time.monotonic() + 300
        while _backup_epoch(out) < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the job ended before it could be killed mid-training"
        killed_at = _backup_epoch(out)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert killed_at >= 1
    assert not (out / "results.json").exists()

    # The user is told the run resumed, and where, and sees the scoring passes go by.
    resumed = _run_compare(out, expect_in_stdout=(
        f"baseline: resumed from the backup in {out / 'backup' / 'baseline'}: {killed_at} of",
        "scoring the best epoch's weights on train, val and test"))
    difference = _max_difference(reference, resumed)
    print(f"killed after backing up epoch {killed_at}; resumed vs uninterrupted "
          f"{difference:.2e}")
    assert difference <= RESUME_TOLERANCE, difference


def test_tune_writes_tables_and_resumes(tmp_path, capsys):
    out = tmp_path / "tune"
    argv = ["tune", "--max-trials", "2", "--epochs", "2", "--num-words", "400", "--units", "8",
            "--seq-len", "16", "--batch-size", "8", "--seed", "3", "--quiet", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "best hyperparameters" in printed and "compare --config" in printed
    trials = json.loads((out / "trials.json").read_text())
    best = json.loads((out / "best_hyperparameters.json").read_text())
    rows = trials["trials"]
    assert len(rows) == 2 and all(r["status"] == "COMPLETED" for r in rows)
    winner = min(rows, key=lambda r: r["val_loss"])
    assert best == trials["best_hyperparameters"]
    assert best == {k: winner[k] for k in best}
    assert "| trial |" in (out / "trials.md").read_text()
    # The winner, ready for `compare --config` and as a model.
    config = regkeras.ExperimentConfig.from_json((out / "best_config.json").read_text())
    assert config.name == "tuned" and config.early_stopping
    assert config.patience == best["patience"] and config.weight_decay == best["weight_decay"]
    assert config.model["dropout"] == best["dropout"]
    model, vocab = regkeras.load_language_model(out / "best.keras")
    assert model.output_shape[-1] == vocab.size
    stamps = {p: p.stat().st_mtime_ns for p in (out / "search").rglob("*.weights.h5")}
    assert len(stamps) == 2  # one best-epoch checkpoint per trial

    assert cli.main(argv) == 0  # resumes: both trials are done, nothing is trained again
    assert json.loads((out / "trials.json").read_text())["trials"] == rows
    assert {p: p.stat().st_mtime_ns for p in (out / "search").rglob("*.weights.h5")} == stamps


# --- the command line as a user meets it (#17) -----------------------------------------------


def _cli(args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "regkeras", *args], capture_output=True,
                          text=True, timeout=timeout, env=_env(), cwd=cwd)


def test_version_and_help_show_the_name_and_the_defaults(tmp_path):
    version = _cli(["--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"regkeras {regkeras.__version__}"
    help_ = _cli(["compare", "--help"], tmp_path)
    assert help_.returncode == 0
    assert help_.stdout.startswith("usage: python -m regkeras compare")
    assert "(default: 0)" in help_.stdout and "(default: recipes)" in help_.stdout
    assert "(default: None)" not in help_.stdout
    assert cli.build_parser().prog in ("regkeras", "python -m regkeras")


def test_help_and_version_answer_without_importing_tensorflow_or_keras(tmp_path):
    # -X importtime lists every module the interpreter imported, on stderr.
    for args in (["--help"], ["compare", "--help"], ["tune", "--help"], ["--version"]):
        run = subprocess.run([sys.executable, "-X", "importtime", "-m", "regkeras", *args],
                             capture_output=True, text=True, timeout=120, env=_env(),
                             cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-2000:]
        imported = {line.split("|")[-1].strip().split(".")[0]
                    for line in run.stderr.splitlines() if line.startswith("import time:")}
        assert "regkeras" in imported and not imported & {"tensorflow", "keras", "numpy"}, args


def test_the_console_script_is_as_fast_and_names_itself(tmp_path):
    script = pathlib.Path(sys.executable).with_name("regkeras")
    if not script.exists():
        pytest.skip("the console script is not installed next to this interpreter")
    run = subprocess.run([str(script), "compare", "--help"], capture_output=True, text=True,
                         timeout=120, env={**_env(), "PYTHONPROFILEIMPORTTIME": "1"},
                         cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.startswith("usage: regkeras compare")
    assert "import time:" in run.stderr and "tensorflow" not in run.stderr


def _assert_one_line_error(run, *fragments):
    assert run.returncode == 2, (run.returncode, run.stderr[-2000:])
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    # One line in all: TensorFlow's C++ start-up lines (absl, oneDNN, the CUDA probe) are gone.
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr[-2000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("python -m regkeras compare: error: "), last
    for fragment in fragments:
        assert fragment in last, last
    return last


@pytest.mark.parametrize("content, fragments", [
    (b"", ["empty"]),
    (b"\xff\xfe\x00bad" * 20, ["UTF-8"]),
    (b"short text", ["--seq-len"]),
])
def test_a_bad_text_file_is_one_line_and_leaves_no_folder(tmp_path, content, fragments):
    text = tmp_path / "corpus.txt"
    text.write_bytes(content)
    out = tmp_path / "new_out"
    run = _cli(["compare", "--dataset", str(text), "--out", str(out)], tmp_path)
    _assert_one_line_error(run, *fragments)
    assert not out.exists(), "a failed run left its output folder behind"


def test_an_out_that_cannot_be_a_folder_fails_before_any_training(tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("")
    started = time.monotonic()
    run = _cli(["compare", "--out", str(a_file)], tmp_path)
    _assert_one_line_error(run, "--out", "is a file")
    run = _cli(["compare", "--out", str(a_file / "below")], tmp_path)
    _assert_one_line_error(run, "--out", "cannot be written")
    assert time.monotonic() - started < 120  # two start-ups, no training


def test_a_ctrl_c_that_python_would_drop_is_delivered_again():
    """Python drops an exception raised in a garbage-collector callback (JAX registers one, and
    Keras imports JAX when it is installed): a Ctrl-C landing there raises nothing there, is
    sent again, and is recorded for the batch-end check too."""
    import gc

    def interrupt_during_collection(phase, info):
        if phase == "start":
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # the handler runs here, inside the gc callback

    cli._interrupted.clear()
    previous = signal.signal(signal.SIGINT, cli._on_sigint)
    try:
        with pytest.raises(KeyboardInterrupt):
            gc.callbacks.append(interrupt_during_collection)
            try:
                gc.collect()  # the handler raises nothing in here
            finally:
                gc.callbacks.remove(interrupt_during_collection)
            time.sleep(5)  # the second one ends this
        assert cli._interrupted.is_set()
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        x, y = np.zeros((8, 3), "float32"), np.zeros((8, 1), "float32")
        with pytest.raises(KeyboardInterrupt):  # and a training run stops at its next batch
            model.fit(x, y, epochs=1, batch_size=4, verbose=0,
                      callbacks=[cli._interrupt_callback()])
    finally:
        signal.signal(signal.SIGINT, previous)
        cli._interrupted.clear()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[cli._interrupt_callback()])


def test_a_ctrl_c_that_a_library_rewrapped_is_still_an_interrupt(tmp_path, monkeypatch, capsys):
    """A KeyboardInterrupt that lands in a library's own error handling can come out as that
    library's error; once the signal was recorded, any error means the interrupt. Without the
    signal, the same error is a bug and keeps its traceback."""
    def rewrapped(args):
        cli._interrupted.set()  # what the SIGINT handler records
        raise RuntimeError("an error TensorFlow made of the KeyboardInterrupt")

    monkeypatch.setattr(cli, "compare", rewrapped)
    out = tmp_path / "out"
    assert cli.main(["compare", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert err.strip().endswith("compare: interrupted") and "\n" not in err.strip(), err
    assert not out.exists(), "the interrupted run left its new output folder behind"

    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "compare", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["compare", "--out", str(out)])


def test_ctrl_c_is_one_line_and_exit_130(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "regkeras", "compare", *TINY_COMPARE,
                             "--epochs", "2000", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(), cwd=tmp_path)
    # So many epochs (22,000 steps) that the run cannot finish before the signal (with 50 a
    # loaded CI machine once saw the child exit 0 first), yet few enough that the per-epoch
    # datasets are chained in well under a second (100,000 took minutes, and the signal
    # landed inside TensorFlow's graph building); the signal goes out once training has
    # begun, which the configuration header announces.
    try:
        header = ""
        for line in proc.stdout:
            if line.startswith("[configuration 1 of 2]"):
                header = line
                break
        assert header, "the child never announced its first configuration"
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Head and tail: a long stderr can say what failed at either end.
    assert proc.returncode == 130, stderr[:1500] + "\n...\n" + stderr[-1500:]
    assert "Traceback" not in stderr and stderr.strip().endswith("compare: interrupted")


def test_compare_trains_a_config_file_and_logs_for_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    config = regkeras.ExperimentConfig("from_file", model={"dropout": 0.2}, weight_decay=0.01,
                                       early_stopping=True, patience=2)
    path = tmp_path / "best_config.json"
    path.write_text(config.to_json())
    out, logs = tmp_path / "out", tmp_path / "tb"
    run = _cli(["compare", "--epochs", "2", "--num-words", "400", "--units", "8",
                "--seq-len", "16", "--batch-size", "8", "--sample-length", "10",
                "--config", str(path), "--tensorboard", str(logs), "--out", str(out)], tmp_path,
               timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "[configuration 2 of 2] from_file: dropout 0.2 (per step) + weight decay 0.01" in (
        run.stdout)
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [row["name"] for row in rows] == ["baseline", "from_file"]
    for name in ("baseline", "from_file"):
        assert any((logs / name).rglob("events.out.tfevents.*")), f"no TensorBoard log for {name}"


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "not a JSON text"),
    ('{"name": "x"}', "not a regkeras experiment configuration"),
    ('{"format": "regkeras.ExperimentConfig", "name": "x", "dropuot": 1}', "unknown"),
])
def test_a_bad_config_file_is_one_line(tmp_path, content, fragment):
    path = tmp_path / "config.json"
    path.write_text(content)
    run = _cli(["compare", "--num-words", "400", "--config", str(path), "--out",
                str(tmp_path / "out")], tmp_path)
    _assert_one_line_error(run, "--config", fragment)
    assert not (tmp_path / "out").exists()


_HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, str(os.getpid()).encode())
print("locked", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("command", [["compare"], ["tune", "--max-trials", "1"]])
def test_a_second_run_into_the_same_out_fails_at_once(tmp_path, capsys, command):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(out / ".regkeras.lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        assert cli.main([*command, "--out", str(out)]) == 2
        assert time.monotonic() - start < 5, "refused at once, before loading anything"
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "Traceback" not in err
        assert f"is in use by another run (process {holder.pid})" in err, err
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".regkeras.lock").write_text("999999\n")  # its process is gone: no flock held
    args = cli.build_parser().parse_args(["compare", "--out", str(out), "--fresh"])
    assert args.fresh
    lock = cli._lock_out(args)
    try:
        assert (out / ".regkeras.lock").read_text() == f"{os.getpid()}\n"
    finally:
        lock.release()
    assert not (out / ".regkeras.lock").exists(), "a finished run leaves no lock file"


def _quick_compare(out, seed, crash_at=None):
    command = [sys.executable, "-m", "regkeras", "compare", "--epochs", "1", "--units", "8",
               "--seq-len", "16", "--batch-size", "16", "--sample-length", "5", "--quiet",
               "--seed", str(seed), "--out", str(out)]
    env = {k: v for k, v in _env().items() if not k.startswith("REGKERAS_CRASH")}
    if crash_at:
        env["REGKERAS_CRASH_AT"] = crash_at
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


def _outputs(out):
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


@pytest.mark.slow
def test_compare_outputs_appear_all_or_nothing_when_killed(tmp_path):
    out = tmp_path / "out"
    assert _quick_compare(out, seed=0).returncode == 0
    names = _outputs(out)
    assert {"results.md", "results.json", "loss_curves.png", "samples.txt", "baseline.keras",
            "regularized.keras", "baseline.vocab.json"} <= set(names)
    before = {n: (out / n).read_bytes() for n in names}

    # Killed with every output written but not yet published: the old run's set is untouched.
    run = _quick_compare(out, seed=1, crash_at="publish: outputs staged")
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    assert {n: (out / n).read_bytes() for n in _outputs(out)} == before
    cli._recover_out(out)
    assert not [p for p in os.listdir(out) if p.startswith(".partial-")]
    assert {n: (out / n).read_bytes() for n in _outputs(out)} == before

    # Killed half-way through moving the new set into place: the next run into the folder
    # finishes the move first, so the folder holds the new run's set only.
    run = _quick_compare(out, seed=2, crash_at="publish: output moved#2")
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    cli._recover_out(out)
    assert _outputs(out) == names
    assert json.loads((out / "results.json").read_text())["seed"] == 2
    assert "baseline.keras" in json.loads((out / ".regkeras-outputs.json").read_text())
    changed = [n for n in names if (out / n).read_bytes() != before[n]]
    assert set(changed) >= {"results.json", "results.md", "loss_curves.png"}, changed
    assert not [p for p in os.listdir(out) if p.startswith(".partial-") or "publishing" in p]


def _quick_tune(out, seed, crash_at=None):
    command = [sys.executable, "-m", "regkeras", "tune", "--max-trials", "1", "--epochs", "1",
               "--num-words", "400", "--units", "8", "--seq-len", "16", "--batch-size", "8",
               "--quiet", "--seed", str(seed), "--out", str(out)]
    env = {k: v for k, v in _env().items() if not k.startswith("REGKERAS_CRASH")}
    if crash_at:
        env["REGKERAS_CRASH_AT"] = crash_at
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


TUNE_OUTPUTS = ["best.keras", "best.vocab.json", "best_config.json", "best_hyperparameters.json",
                "trials.json", "trials.md"]


def _tune_outputs(out):
    return {n: (out / n).read_bytes() for n in _outputs(out) if n != "search"}


@pytest.mark.slow
def test_tune_outputs_appear_all_or_nothing_when_killed(tmp_path):
    """`tune` publishes its tables, configuration and model as one set, with compare's code:
    staged in OUT/.partial-PID, a journal, then the renames."""
    out = tmp_path / "tune"
    first = _quick_tune(out, seed=0)
    assert first.returncode == 0, first.stderr[-2000:]
    before = _tune_outputs(out)
    assert sorted(before) == TUNE_OUTPUTS
    assert json.loads((out / ".regkeras-outputs.json").read_text()) == TUNE_OUTPUTS

    # Killed with every output staged but none published: the previous set is untouched.
    run = _quick_tune(out, seed=1, crash_at="publish: outputs staged")
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    assert _tune_outputs(out) == before
    cli._recover_out(out)
    assert _tune_outputs(out) == before
    assert not [p for p in os.listdir(out) if p.startswith(".partial-")]

    # Killed after two of the six renames: the next run into the folder (here its first
    # step, `_recover_out`) finishes the move, so the folder holds the new set only.
    run = _quick_tune(out, seed=2, crash_at="publish: output moved#2")
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    assert json.loads((out / "trials.json").read_text())["seed"] == 0  # not yet moved
    cli._recover_out(out)
    after = _tune_outputs(out)
    assert sorted(after) == TUNE_OUTPUTS
    assert json.loads(after["trials.json"])["seed"] == 2
    assert json.loads((out / ".regkeras-outputs.json").read_text()) == TUNE_OUTPUTS
    assert not [p for p in os.listdir(out) if p.startswith(".partial-") or "publishing" in p]
    model, vocab = regkeras.load_language_model(out / "best.keras")
    assert model.output_shape[-1] == vocab.size
