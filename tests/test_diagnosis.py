"""Tests for regkeras.diagnosis: synthetic histories of each kind and real short runs."""

import math

import keras
import numpy as np
import pytest

from regkeras.callbacks import TrainingMonitor
from regkeras.diagnosis import ADVICE, Diagnosis, diagnose


def test_overfitting_reports_onset_epoch_and_numbers():
    train = [2.0, 1.6, 1.3, 1.1, 0.9, 0.7, 0.5]
    val = [2.0, 1.7, 1.5, 1.45, 1.5, 1.7, 1.9]
    d = diagnose({"loss": train, "val_loss": val})
    assert d.verdict == "overfitting"
    assert d.evidence["best_epoch"] == 4 and d.epoch == 5
    assert d.evidence["val_rise_since_best"] == pytest.approx((1.9 - 1.45) / 1.45)
    assert d.evidence["gap_at_end"] == pytest.approx(1.9 - 0.5)
    assert d.evidence["gap_at_best"] == pytest.approx(1.45 - 1.1)
    assert d.advice[:-1] == ADVICE["overfitting"][:-1]
    assert d.advice[-1].endswith("Here that is epoch 4.")
    assert any("dropout" in a.lower() for a in d.advice)
    text = str(d)
    assert text.startswith("Verdict: overfitting (from epoch 5)")
    assert "epoch 4" in text and "Advice:" in text


def test_small_val_wiggle_is_not_overfitting():
    train = [2.0, 1.6, 1.4, 1.3, 1.25, 1.24]
    val = [2.0, 1.65, 1.5, 1.44, 1.45, 1.445]  # +0.7% above the best: within tolerance
    d = diagnose({"loss": train, "val_loss": val})
    assert d.verdict == "healthy", str(d)
    assert d.evidence["best_epoch"] == 4


def test_nan_is_unstable():
    d = diagnose({"loss": [2.0, 1.5, float("nan")], "val_loss": [2.0, 1.6, float("nan")]})
    assert d.verdict == "unstable" and d.epoch == 3
    assert d.evidence["nonfinite_metric"] == "loss"
    assert any("clip" in a.lower() for a in d.advice)
    assert any("learning rate" in a.lower() for a in d.advice)


def test_loss_spike_is_unstable():
    train = [2.0, 1.5, 1.2, 1.8, 1.1, 1.0]  # +50% above its best in epoch 4
    d = diagnose({"loss": train, "val_loss": [2.0, 1.5, 1.25, 1.9, 1.2, 1.1]})
    assert d.verdict == "unstable" and d.epoch == 4
    assert d.evidence["largest_spike"] == pytest.approx(0.5)
    assert d.evidence["spike_epochs"] == [4]


def test_stalled_loss_is_underfitting_and_advice_says_tune_lr():
    d = diagnose({"loss": [2.30, 2.299, 2.298, 2.297], "val_loss": [2.30, 2.30, 2.299, 2.299]})
    assert d.verdict == "underfitting"
    assert "fell only" in d.summary
    lr_advice = [a for a in d.advice if "learning rate" in a.lower()]
    assert lr_advice and "larger" in lr_advice[0].lower()  # not just "reduce it"
    assert any("model size" in a.lower() for a in d.advice)


def test_reference_losses_decide_high_loss():
    # converged and flat, but no better than a unigram model
    hist = {"loss": [3.0, 2.2, 2.1, 2.09, 2.09], "val_loss": [3.0, 2.25, 2.15, 2.14, 2.14]}
    assert diagnose(hist).verdict == "healthy"
    d = diagnose(hist, baseline_loss=2.2)
    assert d.verdict == "underfitting" and "baseline" in d.summary
    assert diagnose(hist, baseline_loss=3.0).verdict == "healthy"
    d = diagnose(hist, floor_loss=1.0)
    assert d.verdict == "underfitting"
    assert d.evidence["excess_over_floor"] == pytest.approx(1.14)
    assert diagnose(hist, floor_loss=2.0).verdict == "healthy"


def test_still_improving_is_underfitting():
    d = diagnose({"loss": [3.0, 2.5, 2.1, 1.8], "val_loss": [3.0, 2.55, 2.2, 1.95]})
    assert d.verdict == "underfitting" and "still" in d.summary
    assert any("longer" in a.lower() for a in d.advice)


def test_strong_regularization_note_and_no_val():
    d = diagnose({"loss": [2.0, 1.8, 1.79], "val_loss": [1.7, 1.5, 1.49]})
    assert any("dropout on" in n for n in d.notes)
    d = diagnose({"loss": [2.0, 1.5, 1.45, 1.449]})
    assert d.verdict == "healthy" and any("cannot be judged" in n for n in d.notes)


def test_accepts_keras_history_and_validates():
    h = keras.callbacks.History()
    h.history = {"loss": [1.0, 0.5], "val_loss": [1.0, 0.6]}
    assert isinstance(diagnose(h), Diagnosis)
    with pytest.raises(ValueError, match="loss"):
        diagnose({"val_loss": [1.0]})
    with pytest.raises(ValueError, match="spike_tolerance"):
        diagnose({"loss": [1.0]}, spike_tolerance=0)
    with pytest.raises(ValueError, match="baseline_loss"):
        diagnose({"loss": [1.0]}, baseline_loss=-1)
    with pytest.raises(TypeError):
        diagnose([1.0, 2.0])


# Real short runs: a tiny next-token model on a periodic sequence with noise tokens.
VOCAB = 8


def _sequences(rng, n, t=10):
    period = np.array([1, 2, 3, 4, 5])
    start = rng.integers(0, 5, size=n)
    x = period[(start[:, None] + np.arange(t + 1)[None, :]) % 5]
    noise = rng.random(x.shape) < 0.3
    x = np.where(noise, rng.integers(0, VOCAB, size=x.shape), x)
    return x[:, :-1].astype("int32"), x[:, 1:].astype("int32")


def _model(units, lr, dropout=0.0):
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(VOCAB, 16),
        keras.layers.LSTM(units, return_sequences=True),
        keras.layers.Dropout(dropout),
        keras.layers.Dense(VOCAB),
    ])
    model.compile(keras.optimizers.Adam(lr),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@pytest.mark.slow
def test_real_run_that_overfits():
    rng = np.random.default_rng(0)
    x, y = _sequences(rng, 16)  # far too little data for 64 units: it memorizes the noise
    xv, yv = _sequences(rng, 200)
    monitor = TrainingMonitor()
    _model(64, 0.03).fit(x, y, validation_data=(xv, yv), epochs=15, batch_size=8, verbose=0,
                         callbacks=[monitor])
    d = diagnose(monitor)
    assert d.verdict == "overfitting", str(d)
    val = monitor.history["val_loss"]
    assert d.evidence["best_epoch"] == int(np.argmin(val)) + 1
    assert d.evidence["gap_at_end"] > d.evidence["gap_at_best"]


@pytest.mark.slow
def test_real_run_that_underfits():
    rng = np.random.default_rng(0)
    x, y = _sequences(rng, 200)
    xv, yv = _sequences(rng, 100)
    # unigram baseline: the entropy of the training targets' token frequencies
    p = np.bincount(y.ravel(), minlength=VOCAB) / y.size
    unigram = float(-(p[p > 0] * np.log(p[p > 0])).sum())
    history = _model(2, 1e-4).fit(x, y, validation_data=(xv, yv), epochs=4, batch_size=20,
                                  verbose=0)
    d = diagnose(history, baseline_loss=unigram)
    assert d.verdict == "underfitting", str(d)
    assert d.evidence["baseline_loss"] == pytest.approx(unigram)
    assert min(history.history["val_loss"]) > unigram * 0.95
    assert math.isfinite(d.evidence["final_val_loss"])
