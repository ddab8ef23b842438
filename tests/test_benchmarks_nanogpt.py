"""benchmarks/nanogpt.py: the side-by-side harness, without nanoGPT itself.

CI has no copy of nanoGPT (and the benchmark never ships one), so a stand-in checkout plays its
part: a `train.py` that reads the data the harness wrote, honours the flags it is given and
prints nanoGPT's log lines. That checks the plumbing (splits, vocabulary, the iteration
budget, log parsing, the table); the scoring of a real checkpoint needs PyTorch and is
checked with a stand-in `model.py` where PyTorch is installed.
"""

import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from regkeras.data import split_text


@pytest.fixture(scope="module")
def nanogpt(load_benchmark):
    return load_benchmark("nanogpt")


TEXT = "".join(chr(ord("a") + (i * 7 + i // 13) % 26) for i in range(10_007)) + "\n!"


def test_the_90_part_is_nanogpts_own_split_and_the_80_part_is_ours(nanogpt):
    train90, val90, test90 = nanogpt.nanogpt_parts(TEXT, 90)
    n = len(TEXT)
    # nanoGPT's prepare.py: train = data[:int(n * 0.9)], val = data[int(n * 0.9):].
    assert train90 == TEXT[:int(n * 0.9)] and val90 == TEXT[int(n * 0.9):] == test90
    train, val, test = split_text(TEXT)
    assert nanogpt.nanogpt_parts(TEXT, 80) == (train, val, test)
    assert test == test90
    with pytest.raises(ValueError, match="train_part"):
        nanogpt.nanogpt_parts(TEXT, 85)


def test_the_full_text_length_splits_the_same_way(nanogpt):
    # Tiny Shakespeare's length: floor(n * 0.9) must equal nanoGPT's int(n * 0.9).
    text = "x" * 1_115_394
    assert len(nanogpt.nanogpt_parts(text, 90)[0]) == int(1_115_394 * 0.9)


def test_the_data_files_are_nanogpts_format(nanogpt, tmp_path):
    parts = nanogpt.write_nanogpt_data(tmp_path, TEXT, 80)
    with open(tmp_path / "meta.pkl", "rb") as f:
        meta = pickle.load(f)
    chars = sorted(set(TEXT))
    assert meta["vocab_size"] == len(chars) and meta["itos"][0] == chars[0]
    for name, part in zip(("train", "val", "test"), parts):
        ids = np.fromfile(tmp_path / f"{name}.bin", dtype=np.uint16)
        assert "".join(meta["itos"][int(i)] for i in ids) == part


def test_log_parsing_and_the_iteration_budget(nanogpt):
    lines = ["tokens per iteration will be: 768", "step 0: train loss 4.2000, val loss 4.2100"]
    lines += [f"iter {i}: loss 3.0000, time {100.0 if i < 10 else 20.0:.2f}ms, mfu -100.00%"
              for i in range(30)]
    lines.append("step 30: train loss 2.5000, val loss 2.6000")
    times, evals = nanogpt.parse_log(lines)
    assert len(times) == 30 and evals == [(0, 4.2, 4.21), (30, 2.5, 2.6)]
    assert nanogpt.seconds_per_iteration(times) == pytest.approx(0.020)
    assert nanogpt.iterations_for(150.0, 0.020) == 7500
    assert nanogpt.iterations_for(0.001, 1.0) == 1
    with pytest.raises(RuntimeError, match="no iteration"):
        nanogpt.seconds_per_iteration(times[:5])


def test_windows_cover_the_split_without_overlap(nanogpt):
    ids = np.arange(200)
    x, y = nanogpt.window_batches(ids, 64)
    assert x.shape == y.shape == (3, 64) and x.flags.c_contiguous and y.flags.c_contiguous
    np.testing.assert_array_equal(y, x + 1)
    assert x[1, 0] == 64
    with pytest.raises(ValueError, match="too few"):
        nanogpt.window_batches(np.arange(10), 64)


def test_a_folder_that_is_not_a_checkout_is_refused(nanogpt, tmp_path, capsys):
    with pytest.raises(ValueError, match="lacks train.py"):
        nanogpt.check_checkout(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        nanogpt.main(["--nanogpt", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "karpathy/nanoGPT" in capsys.readouterr().err


def test_nanogpt_needs_its_path_and_regkeras_alone_does_not(nanogpt, capsys):
    with pytest.raises(SystemExit) as exit_info:
        nanogpt.main(["--models", "nanogpt", "--smoke"])
    assert exit_info.value.code == 2 and "--nanogpt PATH" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        nanogpt.main(["--models", "gpt4", "--smoke"])
    assert "invalid choice" in capsys.readouterr().err


def test_regkeras_on_90_percent_trains_on_the_validation_part_too(nanogpt):
    import regkeras

    corpus = regkeras.data.corpus_from_text(TEXT, name="t")
    assert nanogpt.regkeras_corpus(corpus, 80) is corpus
    wide = nanogpt.regkeras_corpus(corpus, 90)
    train90 = nanogpt.nanogpt_parts(TEXT, 90)[0]
    assert corpus.vocab.decode(wide.train_ids) == train90  # exactly nanoGPT's training text
    np.testing.assert_array_equal(wide.test_ids, corpus.test_ids)
    np.testing.assert_array_equal(wide.val_ids, corpus.val_ids)  # logged, no longer held out
    with pytest.raises(ValueError, match="train_part"):
        nanogpt.regkeras_corpus(corpus, 85)


def test_a_checkout_without_the_readme_config_is_refused(nanogpt, tmp_path):
    # Without config/train_shakespeare_char.py train.py would run its GPT-2 defaults
    # (40 micro-batches per iteration): not the README's CPU recipe.
    checkout = _stand_in_checkout(tmp_path / "nanoGPT")
    os.remove(checkout / "config" / "train_shakespeare_char.py")
    with pytest.raises(ValueError, match="train_shakespeare_char.py"):
        nanogpt.check_checkout(checkout)


def test_a_seed_moves_train_pys_own_seed_and_nothing_else(nanogpt, tmp_path):
    # Stand-ins for train.py and torch (found first on the path: the working directory).
    (tmp_path / "torch.py").write_text("def manual_seed(seed):\n    print('seed', seed)\n")
    (tmp_path / "train.py").write_text(
        "import sys, torch\ntorch.manual_seed(1337)\nprint('argv', sys.argv)\n")
    for seed, expected in ((0, 1337), (3, 1340)):
        command = nanogpt.nanogpt_command(sys.executable, {"max_iters": 5}, seed)
        out = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                             check=True).stdout
        assert f"seed {expected}\n" in out
        config = os.path.join("config", "train_shakespeare_char.py")
        assert f"argv ['train.py', '{config}', '--max_iters=5']" in out


STAND_IN_TRAIN = '''
import os, sys, time
import numpy as np
exec(open("configurator.py").read())
assert sys.argv[1] == os.path.join("config", "train_shakespeare_char.py")  # the README's recipe
assert os.path.isfile(sys.argv[1])
flags = dict(arg[2:].split("=", 1) for arg in sys.argv[2:])
data = os.path.join("data", flags["dataset"])
train = np.fromfile(os.path.join(data, "train.bin"), dtype=np.uint16)
assert len(train) > 0 and flags["block_size"] == "64" and flags["batch_size"] == "12"
iterations = int(flags["max_iters"])
assert flags["lr_decay_iters"] == flags["max_iters"]
os.makedirs(flags["out_dir"], exist_ok=True)
print("step 0: train loss 4.1000, val loss 4.1100")
for i in range(iterations + 1):
    print(f"iter {i}: loss 3.0000, time 4.00ms, mfu -100.00%")
print(f"step {iterations}: train loss 2.0000, val loss 2.1000")
open(os.path.join(flags["out_dir"], "ckpt.pt"), "w").write(str(iterations))
'''


def _stand_in_checkout(root):
    root.mkdir()
    (root / "train.py").write_text(STAND_IN_TRAIN)
    (root / "configurator.py").write_text("# the stand-in reads its flags itself\n")
    (root / "model.py").write_text("")
    (root / "config").mkdir()
    (root / "config" / "train_shakespeare_char.py").write_text("gradient_accumulation_steps = 1\n")
    return root


@pytest.mark.slow
def test_the_harness_end_to_end_with_a_stand_in_checkout(nanogpt, tmp_path, monkeypatch,
                                                         capsys):
    checkout = _stand_in_checkout(tmp_path / "nanoGPT")
    scored = []

    def fake_score(checkout_path, checkpoint, test_bin, **_):
        iterations = int(open(checkpoint).read())
        scored.append((iterations, np.fromfile(test_bin, dtype=np.uint16).size))
        return {"test_window64": 2.2, "scored": 64, "iter_num": iterations}

    monkeypatch.setattr(nanogpt, "score_checkpoint", fake_score)
    result = nanogpt.main(["--nanogpt", str(checkout), "--smoke", "--out", str(tmp_path / "o")])
    rows = result["rows"]
    assert [r["model"] for r in rows] == ["nanoGPT (train part 80 %)",
                                         "regkeras (train part 80 %)",
                                         "nanoGPT (train part 90 %)",
                                         "regkeras (train part 90 %)"]
    assert [r["weights"] for r in rows[1::2]] == ["best validation", "last"]
    # 0.1 min at the stand-in's 4 ms per iteration: 1,500 iterations of 12 x 64 tokens.
    assert rows[0]["iterations"] == 1500 and rows[0]["tokens"] == 1500 * 12 * 64
    assert rows[0]["train_s"] == pytest.approx(1501 * 0.004)
    assert rows[0]["nanogpt_estimate_val"] == 2.1 and rows[2]["nanogpt_estimate_is_test"]
    assert rows[1]["test_window64"] > 0 and rows[1]["test_context64"] > 0
    assert [n for n, _ in scored] == [1500, 1500]
    saved = json.loads((tmp_path / "o" / "nanogpt.json").read_text())
    assert saved["table"] == result["table"] and "test, window 64" in result["table"]
    assert os.listdir(tmp_path / "o") == ["nanogpt.json"]


def test_a_checkpoint_is_scored_on_every_position_of_each_window(nanogpt, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    checkout = _stand_in_checkout(tmp_path / "nanoGPT")
    # A stand-in GPT whose loss is known: uniform logits give log(vocab) at every position.
    (checkout / "model.py").write_text(textwrap.dedent('''
        import dataclasses, torch
        @dataclasses.dataclass
        class GPTConfig:
            vocab_size: int = 5
        class GPT(torch.nn.Module):
            def __init__(self, config):
                super().__init__()
                self.vocab_size = config.vocab_size
                self.bias = torch.nn.Parameter(torch.zeros(config.vocab_size))
            def forward(self, x, y):
                logits = self.bias.expand(*x.shape, self.vocab_size)
                loss = torch.nn.functional.cross_entropy(
                    logits.reshape(-1, self.vocab_size), y.view(-1))
                return logits, loss
    '''))
    checkpoint = tmp_path / "ckpt.pt"
    torch.save({"model_args": {"vocab_size": 5}, "model": {"_orig_mod.bias": torch.zeros(5)},
                "iter_num": 7}, checkpoint)
    test_bin = tmp_path / "test.bin"
    np.arange(129, dtype=np.uint16).__mod__(5).astype(np.uint16).tofile(test_bin)
    nanogpt._score_checkpoint_main(str(checkout), str(checkpoint), str(test_bin))
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scores == {"test_window64": pytest.approx(np.log(5)), "scored": 128, "iter_num": 7}
