"""The quality-per-CPU-minute and distance-to-the-floor benchmarks: smoke runs and their helpers.

Both scripts expose `main(argv)`, so their `--smoke` modes run in this process (a tiny model
for a few seconds each); the checks are on the shape and arithmetic of what they report, never
on timings beyond "the run stopped".
"""

import json
import math
import os
import time

import keras
import numpy as np
import pytest

import regkeras


@pytest.fixture(scope="module")
def quality(load_benchmark):
    return load_benchmark("quality")


@pytest.fixture(scope="module")
def floor(load_benchmark):
    return load_benchmark("floor")


# ---------------------------------------------------------------------------------------------
# Helpers (fast)


def _cells(markdown):
    """The rows of a Markdown table as lists of cell strings (heading first, rule dropped)."""
    lines = markdown.splitlines()
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[:1] + lines[2:]]


def test_quality_table_is_regkeras_table_with_the_benchmarks_cells(quality):
    row = dict(budget_min=10.0, max_tokens=11.9e6, recipe="regularized", test_loss=1.7781234,
               test_bits=2.565, val_loss=1.5, train_loss=1.45, train_val_gap=-0.0512,
               best_step=1234, best_elapsed_s=140.4, steps=1500, tokens=3072000,
               tokens_per_s=20480.4, load_average_start=(1.02, 1, 1),
               load_average_end=(2.0, 1, 1))
    met = dict(row, budget_min=2.5, max_tokens=None, load_average_start=None)
    # The cells the benchmark's own formatter printed before it used regkeras' one.
    assert _cells(quality.format_table([row, met]))[1:] == [
        ["10 min (1.19e+07 tok)", "regularized", "1.7781", "2.5650", "1.5000", "1.4500",
         "-0.0512", "1234 (140)", "1500", "3,072,000", "20,480", "–", "1.0→2.0"],
        ["2.5 min", "regularized", "1.7781", "2.5650", "1.5000", "1.4500", "-0.0512",
         "1234 (140)", "1500", "3,072,000", "20,480", "≤ 1.85: met", "–"]]
    assert _cells(quality.format_table([row]))[0][6] == "train-val gap"


def test_floor_table_is_regkeras_table_with_the_benchmarks_cells(floor):
    row = dict(seed=0, model="baseline", train_loss=0.61234, val_loss=0.7, test_loss=0.71,
               floor=0.65, test_ratio=1.0923, train_ratio=0.94, epochs_run=12.0,
               weights_epoch=12.0, best_val_epoch=5.0, tokens_per_s=12345.6)
    heading, cells = _cells(floor.format_table([row], {0: 0.66}))
    assert heading[6] == "chain on test" and len(heading) == 14
    assert cells == ["0", "baseline", "0.6123", "0.7000", "0.7100", "0.6500", "0.6600",
                     "1.092", "1.076", "0.940", "12.0", "12.0", "5.0", "12,346"]


def test_lr_schedule_warms_up_then_decays_to_the_final_fraction(quality):
    peak, warmup, final = 4e-3, 0.1, 0.05
    fractions = np.linspace(0.0, 1.0, 201)
    lrs = np.array([quality.lr_at(f, peak, warmup, final) for f in fractions])
    assert lrs[0] < 0.05 * peak
    np.testing.assert_allclose(quality.lr_at(warmup, peak, warmup, final), peak, rtol=1e-9)
    np.testing.assert_allclose(lrs[-1], final * peak, rtol=1e-9)
    after = lrs[fractions >= warmup]
    assert np.all(np.diff(after) <= 1e-15)
    before = lrs[fractions < warmup]
    assert np.all(np.diff(before) > 0)
    # Past the end the schedule stays at its final value.
    assert quality.lr_at(1.7, peak, warmup, final) == pytest.approx(final * peak)


def test_budget_fraction_starts_counting_after_the_first_step(quality):
    assert quality.budget_fraction(0.5, 0.0, 10.0) == pytest.approx(0.05)
    # A first step of 4 s in a 10 s budget: 1 s later, a sixth of the 6 s left is spent.
    assert quality.budget_fraction(5.0, 4.0, 10.0) == pytest.approx(1 / 6)
    assert quality.budget_fraction(10.0, 4.0, 10.0) == pytest.approx(1.0)
    assert quality.budget_fraction(11.0, 12.0, 10.0) == math.inf


def test_a_slow_first_step_does_not_use_up_the_warmup(quality):
    """The first step's tracing must not count against the warmup (it once took all of it)."""
    corpus = regkeras.load_corpus("recipes", num_words=3000, seed=0)
    recipe = quality.apply_overrides(quality.RECIPES[2.5], {
        "model": {"embedding_dim": 8, "units": 16, "num_layers": 1},
        "batch_size": 8, "seq_len": 20, "warmup": 0.1})
    keras.utils.set_random_seed(0)
    model = quality.build("regularized", recipe, corpus.vocab_size, seed=0)
    rates, train_on_batch = [], model.train_on_batch

    def slow_first_step(*args, **kwargs):
        rates.append(float(model.optimizer.learning_rate.numpy()))
        if len(rates) == 1:
            time.sleep(2.0)  # tracing included, a third or more of the 8 s budget
        return train_on_batch(*args, **kwargs)

    model.train_on_batch = slow_first_step
    stats = quality.train_within_budget(
        model, recipe, corpus, budget_s=8.0, val_windows=2, eval_fractions=(),
        context=8, scored=16, log=lambda *args: None)
    peak = recipe["learning_rate"]
    assert stats["first_step_s"] >= 2.0
    assert stats["elapsed_s"] <= 8.0 + 1.0
    # Steps after the slow one still warm up, from near zero, to the peak, then decay.
    assert rates[1] < 0.2 * peak
    top = int(np.argmax(rates))
    assert rates[top] > 0.9 * peak and 1 < top < len(rates) - 1
    assert rates[-1] < 0.2 * peak


def test_context_windows_score_each_target_once_with_context(quality):
    ids = np.arange(1000, dtype=np.int32)
    x, y = quality.context_windows(ids, context=16, scored=32)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    scored = y[:, -32:].ravel()
    assert len(np.unique(scored)) == scored.size  # disjoint
    # Every scored target has at least `context` ids before it inside its window.
    assert scored.min() >= 16 + 1
    np.testing.assert_array_equal(scored, np.arange(17, 17 + scored.size))
    sub_x, _ = quality.context_windows(ids, context=16, scored=32, max_windows=5)
    assert sub_x.shape == (5, 48)
    assert sub_x[0, 0] == 0 and sub_x[-1, 0] == x[-1, 0]  # spread over the whole split


def test_heldout_loss_matches_keras_cross_entropy_on_the_scored_part(quality):
    model = regkeras.build_language_model(11, embedding_dim=4, units=8, num_layers=1, seed=0)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 11, 400).astype("int32")
    x, y = quality.context_windows(ids, context=5, scored=7)
    got = quality.heldout_loss(model, x, y, scored=7, batch_size=4)
    logits = model.predict(x, verbose=0)[:, -7:]
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y[:, -7:], logits)
    np.testing.assert_allclose(got, float(expected), rtol=1e-5)


def test_random_batches_are_shifted_windows_of_the_ids(quality):
    ids = np.arange(500, dtype=np.int32)
    x, y = next(quality.random_batches(ids, 6, 9, seed=3))
    assert x.shape == y.shape == (6, 9)
    np.testing.assert_array_equal(y, x + 1)
    np.testing.assert_array_equal(np.diff(x, axis=1), 1)


def test_carried_batches_continue_each_stream_and_mark_every_new_pass(quality):
    ids = np.arange(200, dtype=np.int32)
    batches = quality.carried_batches(ids, 4, 9, seed=1)
    x, y, new_pass = next(batches)
    assert new_pass and x.shape == y.shape == (4, 9)
    np.testing.assert_array_equal(y, x + 1)
    starts = []
    for _ in range(40):
        x_next, _, again = next(batches)
        if again:  # a new pass: states are reset, window boundaries moved
            starts.append(x_next[0, 0])
        else:  # row i continues row i of the batch before
            np.testing.assert_array_equal(x_next[:, 0], x[:, -1] + 1)
        x = x_next
    assert len(starts) >= 2 and all(0 <= s < 9 for s in starts) and len(set(starts)) > 1


def test_recipe_batches_and_dtype_policy_are_checked_and_applied(quality):
    with pytest.raises(ValueError, match="batches"):
        quality.carries_state({"batches": "consecutive"})
    recipe = quality.apply_overrides(quality.RECIPES[2.5], {
        "model": {"embedding_dim": 8, "units": 16, "num_layers": 1}, "batch_size": 4,
        "batches": "carried", "dtype_policy": "mixed_bfloat16"})
    model = quality.build("regularized", recipe, 30, seed=0)
    assert model.spec.stateful and model.spec.batch_size == 4
    lstm = [layer for layer in model.layers if isinstance(layer, regkeras.ProjectedLSTM)][0]
    assert lstm.compute_dtype == "bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the build
    twin = quality.scoring_twin(model, recipe)
    assert not twin.spec.stateful and twin.layers[1].compute_dtype == "bfloat16"
    description = quality.describe_recipe("regularized", recipe)
    assert "truncated BPTT" in description and "mixed_bfloat16" in description


def test_the_description_says_which_weights_are_scored(quality):
    recipe = quality.RECIPES[2.5]
    assert quality.describe_recipe("regularized", recipe).endswith("best-val weights")
    # nanogpt.py's 90 % rows train on the validation part and score the last weights.
    assert quality.describe_recipe("regularized", recipe, keep_best=False).endswith("last weights")


def test_carried_loss_scores_the_whole_split_with_the_state_carried(quality):
    recipe = {"dtype_policy": "float32"}
    model = regkeras.build_language_model(12, embedding_dim=4, units=8, num_layers=1, seed=0)
    ids = np.random.default_rng(0).integers(0, 12, 16 * 40 + 1).astype(np.int32)
    got = quality.carried_loss(model, ids, recipe, streams=16, seq_len=10)
    # The reference: each stream's first 3 x 10 characters read in one call (carrying the
    # state between calls is the same as one pass); bptt_dataset reads (40 - 1) // 10 calls.
    streams = ids[:16 * 40].reshape(16, 40)
    logits = model.predict(streams[:, :30], verbose=0)
    targets = streams[:, 1:31]
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(targets, logits)
    np.testing.assert_allclose(got, float(expected), rtol=1e-5)


def test_weight_averaging_is_validated_and_the_training_weights_restored(quality):
    corpus = regkeras.load_corpus("recipes", num_words=3000, seed=0)
    recipe = quality.apply_overrides(quality.RECIPES[2.5], {
        "model": {"embedding_dim": 8, "units": 16, "num_layers": 1},
        "batch_size": 8, "seq_len": 20,
        "optimizer": {"use_ema": True, "ema_momentum": 0.9}})
    keras.utils.set_random_seed(0)
    model = quality.build("regularized", recipe, corpus.vocab_size, seed=0)
    window = {"context": 8, "scored": 16}
    stats = quality.train_within_budget(
        model, recipe, corpus, max_tokens=8 * 20 * 40, val_windows=4, eval_fractions=(0.5,),
        keep_best=False, log=lambda *args: None, **window)
    training = [v.numpy() for v in model.trainable_variables]
    averages = [v.numpy() for v in model.optimizer._model_variables_moving_average]
    # Training went on with (and ended with) the raw weights, not the averages swapped in.
    assert any(not np.allclose(a, w) for a, w in zip(averages, training))
    val_x, val_y = quality.context_windows(corpus.val_ids, max_windows=4, **window)
    raw_loss = quality.heldout_loss(model, val_x, val_y, scored=16)
    for variable, value in zip(model.trainable_variables, averages):
        variable.assign(value)
    averaged_loss = quality.heldout_loss(model, val_x, val_y, scored=16)
    # The validation at the last step measured the averaged weights.
    assert stats["curve"][-1]["val_loss"] == pytest.approx(averaged_loss, rel=1e-6)
    assert raw_loss != pytest.approx(averaged_loss, rel=1e-6)


def test_floor_oracle_is_the_chains_loss_on_the_test_text(floor):
    corpus = regkeras.load_corpus("recipes", num_words=3000, seed=0)
    chain = regkeras.RecipeChain(0)
    loss = floor.oracle_loss(corpus, "test", chain)
    # A 300-word sample: its loss under the true chain is near the entropy rate.
    assert abs(loss - corpus.entropy_rate) / corpus.entropy_rate < 0.15
    words = corpus.vocab.decode(corpus.test_ids).split(" ")[1:-1]
    expected = -chain.log_prob(" ".join(words[1:]), start=words[0]) / (
        sum(len(w) + 1 for w in words[1:]))
    assert loss == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------
# Smoke runs of the two scripts (a few seconds of training each)


@pytest.mark.slow
def test_quality_smoke_reports_both_recipes(quality, tmp_path, data_dir, capsys):
    result = quality.main(["--smoke", "--out", str(tmp_path)])
    rows = result["rows"]
    assert [r["recipe"] for r in rows] == ["baseline", "regularized"]
    for r in rows:
        for key in ("train_loss", "val_loss", "test_loss", "best_val_subset_loss"):
            assert math.isfinite(r[key]) and 0.0 < r[key] < 10.0, (key, r[key])
        assert r["test_bits"] == pytest.approx(r["test_loss"] / math.log(2.0))
        assert r["train_val_gap"] == pytest.approx(r["val_loss"] - r["train_loss"])
        assert r["budget_s"] == pytest.approx(60.0 * quality.SMOKE_BUDGET_MIN)
        # It stopped: a finite number of steps, the last validation at the last step.
        assert r["steps"] >= 1
        assert r["curve"] and r["curve"][-1]["step"] == r["steps"]
        assert r["tokens"] == r["steps"] * 8 * 20
        assert r["tokens_per_s"] == pytest.approx(r["tokens"] / r["elapsed_s"])
        assert 0 <= r["best_step"] <= r["steps"]
        assert r["best_val_subset_loss"] == min(p["val_loss"] for p in r["curve"])
    out = capsys.readouterr().out
    assert "| 0.2 min | baseline |" in out and "| 0.2 min | regularized |" in out
    saved = json.loads((tmp_path / "quality.json").read_text())
    assert saved["machine"]["logical_cores"] == os.cpu_count()
    assert len(saved["rows"]) == 2


@pytest.mark.slow
def test_floor_smoke_reports_both_models_against_the_floor(floor, tmp_path, capsys):
    result = floor.main(["--smoke", "--out", str(tmp_path)])
    rows = result["rows"]
    assert [r["model"] for r in rows] == ["baseline", "regularized"]
    exact = regkeras.RecipeChain(0).entropy_rate
    for r in rows:
        assert r["floor"] == pytest.approx(exact)
        for key in ("train_loss", "val_loss", "test_loss"):
            assert math.isfinite(r[key]) and r[key] > 0.0
        # Untrained for long, nothing beats the exact entropy rate.
        assert r["test_loss"] > r["floor"]
        assert r["test_ratio"] == pytest.approx(r["test_loss"] / r["floor"])
        assert r["test_bits"] == pytest.approx(r["test_loss"] / math.log(2.0))
        assert r["steps"] >= 1 and r["curve"][-1]["step"] == r["steps"]
    base, reg = rows
    assert base["weights_epoch"] == pytest.approx(base["epochs_run"])  # last weights kept
    assert reg["weights_epoch"] == pytest.approx(reg["best_val_epoch"])  # best weights kept
    verdict = result["verdicts"]["0"]
    assert verdict["regularized_within_3pct"] == (reg["test_ratio"] <= 1.03)
    assert verdict["baseline_train_below_floor"] == (base["train_loss"] < base["floor"])
    out = capsys.readouterr().out
    assert "| 0 | baseline |" in out and "| 0 | regularized |" in out
    assert json.loads((tmp_path / "floor.json").read_text())["smoke"] is True


@pytest.mark.slow
def test_floor_set_overrides_the_configuration(floor, tmp_path):
    result = floor.main(["--smoke", "--set", "regularizers.variational=true",
                         "--set", "weight_decay=0.2"])
    assert result["config"]["regularizers"]["variational"] is True
    assert result["config"]["weight_decay"] == 0.2
    assert "variational True" in result["rows"][1]["description"]
    with pytest.raises(SystemExit):
        floor.main(["--smoke", "--set", "no_such_key=1"])
