"""The hard test of "resumable": a real training process is killed (SIGKILL) at every file
operation of a save, in the middle of an epoch, and while the finished run deletes its backup;
after each kill the next process resumes from what was left, and the chain must end with
exactly the weights of an uninterrupted run (issue #19).

The kill points come from the code itself: `regkeras.files.crash_point` marks every step of a
save (``REGKERAS_CRASH_TRACE`` lists them, ``REGKERAS_CRASH_AT=LABEL`` kills the process there,
cutting the file being written to half its size where the step is a write). One helper process
imports Keras once and forks one child per kill point, so each point costs a model build and
a few epochs, not a TensorFlow import (about 60 s in all on 2 busy CPU cores).
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SERVER = textwrap.dedent(
    r"""
    import json, os, signal, sys, traceback
    sys.path.insert(0, {tests!r})
    import keras
    import numpy as np
    from test_callbacks import make_model, fit, WeightsRecorder
    from regkeras.callbacks import ResumableBackupAndRestore, training_callbacks

    WORK, EPOCHS, PATIENCE = {work!r}, {epochs}, {patience}
    BACKUP = os.path.join(WORK, "backup")

    class Record(keras.callbacks.Callback):
        # Placed after the backup: sees the state the backup restored.
        def __init__(self, path):
            super().__init__()
            self.path = path
        def on_train_begin(self, logs=None):
            backup = [c for c in self.model._regkeras_cbs
                      if isinstance(c, ResumableBackupAndRestore)][0]
            np.savez(self.path, epoch=-1 if backup.restored_epoch is None
                     else backup.restored_epoch, *self.model.get_weights())

    class MidEpochKill(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                os.kill(os.getpid(), signal.SIGKILL)

    def child(name, crash_at=None, trace=None, record=None, reference=False):
        pid = os.fork()
        if pid:
            return os.waitpid(pid, 0)[1]
        try:
            if crash_at and crash_at != "mid-epoch":
                os.environ["REGKERAS_CRASH_AT"] = crash_at
            if trace:
                os.environ["REGKERAS_CRASH_TRACE"] = trace
            model = make_model()
            cbs = training_callbacks(patience=PATIENCE, backup_dir=BACKUP if not reference
                                     else os.path.join(WORK, "reference-backup"))
            model._regkeras_cbs = cbs
            extra = [Record(record)] if record else []
            if crash_at == "mid-epoch":
                extra.append(MidEpochKill())
            epochs_seen = WeightsRecorder()
            fit(model, EPOCHS, cbs + extra + [epochs_seen])
            np.savez(os.path.join(WORK, name + ".final.npz"), *model.get_weights())
            if reference:
                with open(os.path.join(WORK, "reference.json"), "w") as f:
                    json.dump({{"epochs": sorted(epochs_seen.weights)}}, f)
                for e, w in epochs_seen.weights.items():
                    np.savez(os.path.join(WORK, f"reference.epoch{{e}}.npz"), *w)
            os._exit(0)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(3)

    trace = os.path.join(WORK, "trace.txt")
    assert child("reference", trace=trace, reference=True) == 0
    labels = list(dict.fromkeys(open(trace).read().split("\n")[:-1]))
    points = labels[:]
    points.insert(labels.index("save: committed") + 1, "mid-epoch")
    report = []
    for i, label in enumerate(points):
        status = child(f"kill{{i}}", crash_at=label, record=os.path.join(WORK, f"resume{{i}}.npz"))
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        report.append({{"label": label, "killed": killed, "status": status}})
    status = child("resumed", record=os.path.join(WORK, f"resume{{len(points)}}.npz"))
    print(json.dumps({{"labels": labels, "points": report, "final_status": status}}))
    """
)


@pytest.mark.slow
def test_a_kill_at_every_file_operation_resumes_exactly(tmp_path):
    epochs, patience = 12, 3
    script = SERVER.format(tests=os.path.dirname(os.path.abspath(__file__)), work=str(tmp_path),
                           epochs=epochs, patience=patience)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("REGKERAS_CRASH_AT", None)
    env.pop("REGKERAS_CRASH_TRACE", None)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["final_status"] == 0, proc.stderr[-4000:]

    labels = report["labels"]
    # Every step of a save, of pruning and of the final cleanup is a kill point.
    for expected in ("save: make the partial folder", "save: weights half-written",
                     "save: state.npz half-written", "save: manifest half-written",
                     "save: rename into place", "save: committed",
                     "save: prune an older checkpoint: rename",
                     "save: prune an older checkpoint: half-deleted",
                     "cleanup: discard a checkpoint: rename", "cleanup: remove the folder"):
        assert expected in labels, (expected, labels)
    not_killed = [p["label"] for p in report["points"] if not p["killed"]]
    assert not not_killed, f"these points were never reached: {not_killed}"

    reference = json.loads((tmp_path / "reference.json").read_text())
    ref_epochs = reference["epochs"]
    assert len(ref_epochs) < epochs, "early stopping fires in the reference run"

    # Each resume restored exactly the weights the uninterrupted run had at that epoch.
    resumes = 0
    for i in range(len(report["points"]) + 1):
        with np.load(tmp_path / f"resume{i}.npz") as data:
            epoch = int(data["epoch"])
            weights = [data[f"arr_{j}"] for j in range(len(data.files) - 1)]
        if epoch < 0:
            continue  # nothing committed yet: a fresh start
        resumes += 1
        with np.load(tmp_path / f"reference.epoch{epoch - 1}.npz") as data:
            expected = [data[f"arr_{j}"] for j in range(len(data.files))]
        for got, want in zip(weights, expected, strict=True):
            np.testing.assert_array_equal(got, want, err_msg=f"resume {i} at epoch {epoch}")
    assert resumes >= 5, resumes  # the kills after the first commit resume from a checkpoint

    with np.load(tmp_path / "reference.final.npz") as a, np.load(tmp_path / "resumed.final.npz") as b:
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    print(f"{len(report['points'])} kill points, {resumes} resumes from a checkpoint, "
          "final weights identical to the uninterrupted run")
