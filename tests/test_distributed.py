"""Training under tf.distribute.MirroredStrategy on two logical CPUs equals one-device training.

TensorFlow fixes its devices when it first uses them, so the two logical CPUs need a fresh
process: one subprocess (``SCRIPT``) runs every distributed experiment once and writes its
numbers to a folder; the tests below check them. The script is also the tested version of the
snippets in ``docs/scaling.md``.

Tolerances. With dropout off, a mirrored step differs from a one-device step on the same
global batch only in the order of float32 additions: each replica averages its half of the
batch and the two halves' gradients are summed by an all-reduce, instead of one sum over the
whole batch. That changes gradients by a few float32 ulps (relative ~1e-7). Adam divides the
gradient by its own running scale, so relative gradient errors stay relative update errors
(~1e-7 of a 1e-2 step), and a handful of steps through a 4-layer LSTM amplify them little: we
allow a relative 1e-5 on losses and 2e-5 (absolute, weights are O(0.1-1)) on the final weights,
and measure ~1e-7 and ~1e-6.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SCRIPT = textwrap.dedent(
    r'''
    import json, os, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import regkeras
    devices = regkeras.use_logical_cpus(2)       # before anything touches a device
    import keras
    import tensorflow as tf
    from regkeras import (ActivationRegularization, ClipAfterReduceAdamW, EmbeddingDropout,
                          LayerNormLSTM, LockedDropout, ProjectedLSTM, WeightDropLSTM,
                          ZoneoutLSTM, make_adamw, training_callbacks, get_callback,
                          BestWeightsEarlyStopping, build_language_model, reset_states)

    import time
    out = sys.argv[1]
    facts = {"devices": devices, "seconds": {}}
    clock = [time.perf_counter()]

    def tick(name):
        now = time.perf_counter()
        facts["seconds"][name] = round(now - clock[0], 1)
        clock[0] = now

    arrays = {}
    mirrored = regkeras.make_strategy("mirrored", devices=devices)
    single = regkeras.make_strategy("default")
    facts["replicas"] = mirrored.num_replicas_in_sync
    facts["strategy"] = type(mirrored).__name__

    V, E, T, B = 13, 8, 6, 8                       # global batch 8 = 2 replicas x 4
    rng = np.random.default_rng(0)
    data = rng.integers(1, V, size=(3 * B, T + 1)).astype("int32")
    x, y = data[:, :-1], data[:, 1:]
    LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def dataset():
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(B)

    def awd_model(rate):
        """Every regkeras layer in one tied-weights language model; rate=0 turns dropout off."""
        ids = keras.Input((T,), dtype="int32")
        embedding = EmbeddingDropout(V, E, rate=rate / 2, logits_bias=True,
                                     reverse_dtype="float32", seed=0, name="embedding")
        h = LockedDropout(rate, seed=1)(embedding(ids))
        h = ProjectedLSTM(8, return_sequences=True, seed=2)(h)
        h = LayerNormLSTM(8, return_sequences=True, seed=3)(h)
        h = WeightDropLSTM(8, weight_dropout=rate, return_sequences=True, seed=4)(h)
        h = ZoneoutLSTM(E, zoneout_c=rate, zoneout_h=rate / 2, return_sequences=True, seed=5)(h)
        h = ActivationRegularization(tar=1.0, name="tar")(h)
        h = LockedDropout(rate, seed=6)(h)
        h = ActivationRegularization(ar=2.0, name="ar")(h)
        return keras.Model(ids, embedding(h, reverse=True))

    class BatchLosses(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.losses = []
        def on_train_batch_end(self, batch, logs=None):
            self.losses.append(float(logs["loss"]))

    def train_awd(strategy, rate, init, tag, epochs=2):
        with strategy.scope():
            keras.utils.set_random_seed(1)
            model = awd_model(rate)
            if init is not None:
                model.set_weights(init)
            model.compile(make_adamw(1e-2, 0.1, model=model), LOSS)
        start = [np.array(w) for w in model.get_weights()]
        record = BatchLosses()
        callbacks = training_callbacks(patience=1, backup_dir=f"{out}/{tag}_backup",
                                       checkpoint_path=f"{out}/{tag}_best.keras")
        history = model.fit(dataset(), validation_data=dataset(), epochs=epochs, verbose=0,
                            callbacks=[record] + callbacks)
        facts[tag] = {"history": {k: [float(v) for v in vals]
                                  for k, vals in history.history.items()},
                      "batch_losses": record.losses,
                      "best_epoch": get_callback(callbacks, BestWeightsEarlyStopping).best_epoch,
                      "backup_left": os.path.exists(f"{out}/{tag}_backup"),
                      "checkpoint": os.path.exists(f"{out}/{tag}_best.keras")}
        for i, w in enumerate(model.get_weights()):
            arrays[f"{tag}_w{i}"] = w
        return model, start

    # 1. Dropout off: one device vs two replicas on the same global batches.
    _, init = train_awd(single, 0.0, None, "single")
    for i, w in enumerate(init):
        arrays[f"init_w{i}"] = w
    train_awd(mirrored, 0.0, init, "mirrored")
    facts["num_weights"] = len(init)

    tick("equivalence")

    # 2. Dropout on under the strategy; then save and load outside it (safe mode).
    model, _ = train_awd(mirrored, 0.3, init, "dropout_on", epochs=1)
    with mirrored.scope():
        a = keras.ops.convert_to_numpy(model(x[:B], training=True))
        b = keras.ops.convert_to_numpy(model(x[:B], training=True))
    facts["dropout_on"]["train_calls_differ"] = bool(np.abs(a - b).max() > 1e-4)
    model.save(f"{out}/dropout_on.keras")
    arrays["dropout_on_logits"] = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    loaded = keras.saving.load_model(f"{out}/dropout_on.keras", safe_mode=True)
    arrays["loaded_logits"] = keras.ops.convert_to_numpy(loaded(x))
    best = keras.saving.load_model(f"{out}/dropout_on_best.keras", safe_mode=True)
    facts["best_checkpoint_loads"] = type(best.layers[1]).__name__

    tick("dropout_on")

    # Each replica's copy of a SeedGenerator advances in lockstep: same masks on every replica.
    with mirrored.scope():
        locked, plain = LockedDropout(0.5, seed=3), keras.layers.Dropout(0.5, seed=3)
    ones = mirrored.experimental_distribute_values_from_function(
        lambda ctx: tf.ones((4, 3, 6)))
    for layer in (locked, plain):
        result = mirrored.run(lambda t: layer(t, training=True), args=(ones,))
        r0, r1 = [v.numpy() for v in mirrored.experimental_local_results(result)]
        facts[f"same_masks_{type(layer).__name__}"] = bool(np.array_equal(r0, r1))
        facts[f"dropped_{type(layer).__name__}"] = float((r0 == 0).mean())

    tick("masks")

    # 3. AR/TAR (add_loss) and L2 are scaled like the data loss: the replicas' losses and
    #    gradients sum to the one-device ones.
    def penalized_model():
        ids = keras.Input((T,), dtype="int32")
        h = keras.layers.Embedding(V, E, embeddings_regularizer=keras.regularizers.L2(1e-2))(ids)
        h = ProjectedLSTM(8, return_sequences=True, kernel_regularizer="l2", seed=0)(h)
        h = ActivationRegularization(ar=200.0, tar=100.0)(h)
        return keras.Model(ids, keras.layers.Dense(V)(h))

    keras.utils.set_random_seed(2)
    plain_model = penalized_model()
    plain_model.compile("sgd", LOSS)
    with mirrored.scope():
        dist_model = penalized_model()
        dist_model.compile("sgd", LOSS)
    dist_model.set_weights(plain_model.get_weights())

    def loss_and_grads(model, xb, yb):
        with tf.GradientTape() as tape:
            pred = model(xb, training=True)
            total = model.compute_loss(x=xb, y=yb, y_pred=pred, training=True)
        return total, tape.gradient(total, model.trainable_variables)

    one_loss, one_grads = loss_and_grads(plain_model, x[:B], y[:B])
    plain_model(x[:B], training=True)
    facts["penalty_share"] = float(keras.ops.sum(plain_model.losses) / one_loss)
    halves = lambda arr: mirrored.experimental_distribute_values_from_function(
        lambda ctx: arr[ctx.replica_id_in_sync_group * (B // 2):][: B // 2])
    per_loss, per_grads = mirrored.run(loss_and_grads, args=(dist_model, halves(x), halves(y)))
    facts["loss_one_device"] = float(one_loss)
    facts["loss_replica_sum"] = float(mirrored.reduce("SUM", per_loss, axis=None))
    facts["loss_replica_values"] = [float(v) for v in mirrored.experimental_local_results(per_loss)]
    for i, (g1, g2) in enumerate(zip(one_grads, per_grads)):
        arrays[f"grad_one_{i}"] = tf.convert_to_tensor(g1).numpy()
        parts = [tf.convert_to_tensor(p).numpy() for p in mirrored.experimental_local_results(g2)]
        arrays[f"grad_sum_{i}"] = sum(parts)
    facts["num_grads"] = len(one_grads)

    tick("penalties")

    # 4. Gradient clipping: Keras clips per replica before the sum; ClipAfterReduceAdamW not.
    def tiny_model():
        ids = keras.Input((T,), dtype="int32")
        h = keras.layers.Embedding(V, E)(ids)
        h = ProjectedLSTM(8, return_sequences=True, seed=0)(h)
        return keras.Model(ids, keras.layers.Dense(V)(h))

    keras.utils.set_random_seed(3)
    tiny_init = tiny_model().get_weights()

    def clipped_run(strategy, make_optimizer, tag):
        with strategy.scope():
            model = tiny_model()
            model.set_weights(tiny_init)
            model.compile(make_optimizer(model), LOSS)
        model.fit(dataset(), epochs=1, verbose=0)
        for i, w in enumerate(model.get_weights()):
            arrays[f"{tag}_w{i}"] = w

    keras_adamw = lambda m: keras.optimizers.AdamW(1e-2, weight_decay=0.1, clipnorm=0.01)
    ours = lambda m: ClipAfterReduceAdamW(1e-2, weight_decay=0.1, clipnorm=0.01)
    ours_global = lambda m: ClipAfterReduceAdamW(1e-2, weight_decay=0.1, global_clipnorm=0.01)
    keras_global = lambda m: keras.optimizers.AdamW(1e-2, weight_decay=0.1, global_clipnorm=0.01)
    clipped_run(single, keras_adamw, "clip_single")
    clipped_run(mirrored, keras_adamw, "clip_keras")
    clipped_run(single, ours, "clip_ours_single")
    clipped_run(single, keras_global, "gclip_single")
    clipped_run(mirrored, ours_global, "gclip_ours")
    facts["num_tiny_weights"] = len(tiny_init)

    tick("clipping")

    # 5. Stateful RNNs: `batch_size` is the per-replica batch.
    streams = rng.integers(1, V, size=(B, 2 * T + 1)).astype("int32")
    bptt = tf.data.Dataset.from_tensor_slices(
        (np.concatenate([streams[:, :T], streams[:, T:2 * T]]),
         np.concatenate([streams[:, 1:T + 1], streams[:, T + 1:]]))).batch(B)
    for tag, batch_size in (("stateful_global", B), ("stateful_per_replica", B // 2)):
        try:
            with mirrored.scope():
                model = build_language_model(V, embedding_dim=8, units=8, stateful=True,
                                             batch_size=batch_size, seq_len=T, dropout=0.2, seed=0)
                model.compile(make_adamw(1e-2, 0.1, model=model), LOSS)
            history = model.fit(bptt, epochs=1, verbose=0, shuffle=False)
            layer = model.get_layer("rnn_1")
            facts[tag] = {"loss": float(history.history["loss"][0]),
                          "state_norm": float(np.abs(layer.states[0].numpy()).sum())}
            reset_states(model)
            facts[tag]["state_norm_after_reset"] = float(np.abs(layer.states[0].numpy()).sum())
        except Exception as error:  # recorded, checked by the test
            facts[tag] = {"error": f"{type(error).__name__}: {error}"}

    tick("stateful")
    np.savez(f"{out}/arrays.npz", **arrays)
    with open(f"{out}/facts.json", "w") as f:
        json.dump(facts, f)
    print("done")
    '''
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Runs SCRIPT once in a fresh process with two logical CPUs; returns (facts, arrays)."""
    folder = tmp_path_factory.mktemp("distributed")
    (folder / "script.py").write_text(SCRIPT)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run([sys.executable, str(folder / "script.py"), str(folder)],
                            capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0 and "done" in result.stdout, result.stderr[-4000:]
    facts = json.loads((folder / "facts.json").read_text())
    with np.load(folder / "arrays.npz") as data:
        arrays = {k: data[k] for k in data.files}
    return facts, arrays


def weights(arrays, tag, count):
    return [arrays[f"{tag}_w{i}"] for i in range(count)]


def max_difference(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


pytestmark = pytest.mark.slow


def test_two_logical_cpus_make_two_replicas(run):
    facts, _ = run
    assert facts["strategy"] == "MirroredStrategy"
    assert facts["replicas"] == 2
    assert facts["devices"] == ["/device:CPU:0", "/device:CPU:1"]


def test_mirrored_training_matches_one_device_with_dropout_off(run):
    facts, arrays = run
    one, two = facts["single"], facts["mirrored"]
    assert len(one["batch_losses"]) == len(two["batch_losses"]) == 2 * 3  # 2 epochs x 3 steps
    np.testing.assert_allclose(two["batch_losses"], one["batch_losses"], rtol=1e-5)
    for key in ("loss", "val_loss", "perplexity", "val_bpc"):
        np.testing.assert_allclose(two["history"][key], one["history"][key], rtol=1e-5)
    n = facts["num_weights"]
    w_one, w_two = weights(arrays, "single", n), weights(arrays, "mirrored", n)
    for a, b in zip(w_one, w_two):
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-5)
    # ... and training did move the weights much further than that tolerance.
    assert max_difference(weights(arrays, "init", n), w_one) > 1e-2
    # The callbacks behaved the same: same best epoch, checkpoint written, backup cleaned up.
    for run_facts in (one, two):
        assert run_facts["checkpoint"] and not run_facts["backup_left"]
    assert one["best_epoch"] == two["best_epoch"]


def test_dropout_on_trains_under_the_strategy_and_loads_outside_it(run):
    facts, arrays = run
    on = facts["dropout_on"]
    assert np.isfinite(on["history"]["loss"]).all() and np.isfinite(on["history"]["val_loss"]).all()
    assert on["train_calls_differ"]  # the masks are really drawn under the strategy
    # saved under the strategy, loaded (safe mode) outside it: the same inference outputs
    np.testing.assert_allclose(arrays["loaded_logits"], arrays["dropout_on_logits"],
                               rtol=1e-6, atol=1e-6)
    assert facts["best_checkpoint_loads"] == "EmbeddingDropout"


def test_each_replica_draws_the_same_dropout_masks(run):
    """Documented in docs/scaling.md: the generator state is mirrored, so masks repeat."""
    facts, _ = run
    for name in ("LockedDropout", "Dropout"):
        assert facts[f"same_masks_{name}"]
        assert 0.3 < facts[f"dropped_{name}"] < 0.7


def test_activation_and_weight_penalties_are_scaled_like_the_data_loss(run):
    facts, arrays = run
    assert facts["penalty_share"] > 0.05  # AR/TAR + L2 are a visible part of the loss
    # Each replica's loss is (its mean loss + the penalties) / 2; their sum is the global loss.
    np.testing.assert_allclose(facts["loss_replica_sum"], facts["loss_one_device"], rtol=1e-5)
    assert all(v < 0.75 * facts["loss_one_device"] for v in facts["loss_replica_values"])
    for i in range(facts["num_grads"]):
        np.testing.assert_allclose(arrays[f"grad_sum_{i}"], arrays[f"grad_one_{i}"],
                                   rtol=1e-4, atol=1e-6)


def test_keras_clips_each_replica_before_the_sum(run):
    """Keras 3's own behaviour, which ClipAfterReduceAdamW corrects (docs/scaling.md)."""
    facts, arrays = run
    n = facts["num_tiny_weights"]
    assert max_difference(weights(arrays, "clip_keras", n), weights(arrays, "clip_single", n)) > 1e-3


def test_clip_after_reduce_adamw_matches_one_device(run):
    """global_clipnorm: the all-replica gradient is clipped, as on one device."""
    facts, arrays = run
    n = facts["num_tiny_weights"]
    for a, b in zip(weights(arrays, "gclip_single", n), weights(arrays, "gclip_ours", n)):
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-5)
    # Off-strategy it is keras.optimizers.AdamW, bit for bit.
    for a, b in zip(weights(arrays, "clip_single", n), weights(arrays, "clip_ours_single", n)):
        np.testing.assert_array_equal(b, a)


def test_stateful_models_take_the_per_replica_batch_size(run):
    facts, _ = run
    assert "batch size" in facts["stateful_global"]["error"]
    ok = facts["stateful_per_replica"]
    assert "error" not in ok, ok
    assert np.isfinite(ok["loss"]) and ok["state_norm"] > 0
    assert ok["state_norm_after_reset"] == 0


def test_strategy_helpers_validate_their_arguments():
    import regkeras

    with pytest.raises(ValueError, match="kind"):
        regkeras.make_strategy("gpu")
    with pytest.raises(TypeError, match="devices"):
        regkeras.make_strategy("mirrored", devices="/gpu:0")
    with pytest.raises(ValueError, match="devices"):
        regkeras.make_strategy("tpu", devices=["/cpu:0"])
    with pytest.raises(TypeError, match="tpu"):
        regkeras.make_strategy("tpu", tpu=3)
    with pytest.raises(ValueError, match="count"):
        regkeras.use_logical_cpus(0)
    assert regkeras.make_strategy("default").num_replicas_in_sync == 1
    # One process is its own chief (the two-worker case: tests/test_multiworker.py).
    assert regkeras.is_chief() and regkeras.is_chief(regkeras.make_strategy("default"))
    with pytest.raises(TypeError, match="`strategy` must be a tf.distribute.Strategy"):
        regkeras.is_chief("chief")
    import tensorflow as tf

    if len(tf.config.list_logical_devices("GPU")) < 2 and not os.environ.get("TF_CONFIG"):
        assert regkeras.make_strategy("auto").num_replicas_in_sync == 1
