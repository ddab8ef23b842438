"""Side by side with nanoGPT's CPU recipe: Tiny Shakespeare, the same machine, the same run.

nanoGPT's README gives a CPU recipe for its character-level Shakespeare model (4 layers, 4
heads, 128 channels, block 64, batch 12, dropout 0). This script trains that recipe from a
checkout of karpathy/nanoGPT that you pass as a path (never part of regkeras), with its
iterations scaled to a wall-clock budget, and regkeras' recipe of `benchmarks/quality.py` for
the same budget, one after the other in one run, and scores both on the same test text:

    git clone https://github.com/karpathy/nanoGPT ~/nanoGPT          # PyTorch is needed too
    python benchmarks/nanogpt.py --nanogpt ~/nanoGPT                 # 2.5, 10, 30 minutes
    python benchmarks/nanogpt.py --nanogpt ~/nanoGPT --budgets 2.5 --out out/nanogpt
    python benchmarks/nanogpt.py --nanogpt ~/nanoGPT --smoke         # seconds; checks the path
    python benchmarks/nanogpt.py --models regkeras --budgets 2.5 --seed 1   # regkeras only

What is compared, and how (documented so that it can be argued with):

* **Text and splits.** Tiny Shakespeare cut as regkeras cuts it (`regkeras.data.split_text`):
  train = the first 80 %, validation = the next 10 %, test = the last 10 %, which is exactly
  the text nanoGPT's own `prepare.py` holds out as its validation split. nanoGPT trains on
  its first 90 % (our validation part included), regkeras on the first 80 %, so nanoGPT runs
  twice per budget: on its own split (`train part 90`, its "val" = our test) and on ours
  (`train part 80`, its "val" = our validation part, test kept out), like for like, and
  so can regkeras (`--train-parts 80 90`): on 90 % its validation part is trained on, so it
  keeps its last weights instead of the best-validation ones (with the cosine schedule the
  last step is the best one in every regularized 80 % run recorded).
* **The budget.** nanoGPT has no wall-clock stop, so a probe of `PROBE_ITERS` iterations
  measures its time per iteration on this machine, and the run gets
  ``max_iters = lr_decay_iters = budget / time per iteration`` (as its README pairs them), and
  evaluates only at the start and the end. Its training clock is the sum of its own
  iteration times (both evaluations included; start-up and model building not charged, as
  `quality.py` charges regkeras); the process' wall time and the tokens are recorded too.
* **Two scoring protocols, on both models.** nanoGPT scores windows of its block size: every
  position of a 64-character window, from no context at all to 63 characters
  (``window 64``). regkeras' benchmark scores every character with at least 64 characters of
  context (``context 64``; windows of 256, the last 192 scored). Both models are scored here
  on the whole test split, deterministically, under ``window 64``; regkeras also under
  ``context 64`` (a transformer with a 64-character block cannot see more). nanoGPT's own
  estimate (20 batches of 12 random windows) is reported beside it.
"""

import argparse
import json
import os
import pickle
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

# nanoGPT README's CPU recipe ("I only have a macbook"): its config file, then its flags minus
# max_iters. The config file matters: without it train.py keeps its GPT-2 defaults
# (gradient_accumulation_steps 40, learning rate 6e-4, 2,000 warm-up iterations), 40 times the
# work per iteration and another optimizer.
RECIPE_CONFIG = os.path.join("config", "train_shakespeare_char.py")
NANOGPT_RECIPE = {
    "device": "cpu", "compile": False, "eval_iters": 20, "log_interval": 1,
    "block_size": 64, "batch_size": 12, "n_layer": 4, "n_head": 4, "n_embd": 128,
    "dropout": 0.0,
}
WINDOW = 64
# A probe of 60 iterations (about 2 s) read 52.4, 36.7 and 37.9 ms per iteration in three
# 30-minute runs on one Zen 4 machine whose full runs then averaged 47.2, 47.3 and 46.5 ms: a
# shared machine's speed drifts, and 2 s sample too little of it. 400 iterations (15-20 s on a
# 2-core CPU, not charged to either side) sample more; the table charges nanoGPT the time its
# run actually took, whatever the probe predicted.
PROBE_ITERS = 400
PROBE_SETTLE = 10  # iterations left out of the timing (warm-up, first allocations)
TRAIN_PARTS = (80, 90)
MODELS = ("nanogpt", "regkeras")
SMOKE_BUDGET_MIN = 0.1
DATASET = "regkeras_shakespeare"

_ITER_LINE = re.compile(r"^iter (\d+): loss ([\d.]+), time ([\d.]+)ms")
_EVAL_LINE = re.compile(r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)")


# --------------------------------------------------------------------------------------------
# nanoGPT's data, from regkeras' split


def check_train_part(train_part):
    if train_part not in TRAIN_PARTS:
        raise ValueError(f"`train_part` must be one of {TRAIN_PARTS}, got {train_part!r}.")


def nanogpt_parts(text, train_part):
    """`(train, val, test)` texts for a nanoGPT run on the first `train_part` % of `text`.

    ``train_part=90`` is nanoGPT's own split (its validation text is our test part);
    ``train_part=80`` is regkeras' (its validation text is our validation part).
    """
    from regkeras.data import split_text

    check_train_part(train_part)
    train, val, test = split_text(text)
    if train_part == 90:
        return train + val, test, test
    return train, val, test


def write_nanogpt_data(folder, text, train_part):
    """Write nanoGPT's `train.bin`, `val.bin`, `meta.pkl` (and our `test.bin`) into `folder`.

    The vocabulary is what nanoGPT's `prepare.py` builds: the sorted characters of the whole
    text. Returns the `(train, val, test)` texts written.
    """
    chars = sorted(set(text))
    if len(chars) > np.iinfo(np.uint16).max:
        raise ValueError("nanoGPT stores ids as uint16; this text has too many characters.")
    index = {c: i for i, c in enumerate(chars)}
    os.makedirs(folder, exist_ok=True)
    parts = nanogpt_parts(text, train_part)
    for name, part in zip(("train", "val", "test"), parts):
        ids = np.fromiter((index[c] for c in part), dtype=np.uint16, count=len(part))
        ids.tofile(os.path.join(folder, f"{name}.bin"))
    meta = {"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": index}
    with open(os.path.join(folder, "meta.pkl"), "wb") as f:
        pickle.dump(meta, f)
    return parts


# --------------------------------------------------------------------------------------------
# Running nanoGPT


def check_checkout(path):
    """The nanoGPT checkout's absolute path, or a ValueError saying what is missing."""
    path = os.path.abspath(os.path.expanduser(path))
    missing = [f for f in ("train.py", "model.py", "configurator.py", RECIPE_CONFIG)
               if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise ValueError(f"`--nanogpt` must be a checkout of karpathy/nanoGPT; {path} lacks "
                         f"{', '.join(missing)}.")
    return path


def checkout_commit(path):
    """The checkout's git commit, or 'unknown' (an exported tree has none)."""
    try:
        run = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return run.stdout.strip() if run.returncode == 0 else "unknown"


def make_workdir(checkout, root):
    """A folder to run nanoGPT in: its files and `config/` linked, and a `data/` of our own.

    nanoGPT reads `configurator.py`, the config file and `data/<dataset>/` relative to the
    working directory, so it runs here instead of inside the checkout, which stays untouched.
    """
    for name in ("train.py", "model.py", "configurator.py", "config"):
        os.symlink(os.path.join(checkout, name), os.path.join(root, name))
    return root


# train.py seeds PyTorch once, with `torch.manual_seed(1337 + seed_offset)` (seed_offset is
# the DDP rank). For seed N > 0 it is started through this wrapper, which adds N to that seed
# (initialization and batch sampling both follow it) without touching nanoGPT's files.
_SEEDED_TRAIN = (
    "import runpy, sys, torch\n"
    "offset = int(sys.argv.pop(1))\n"
    "_manual_seed = torch.manual_seed\n"
    "torch.manual_seed = lambda seed: _manual_seed(seed + offset)\n"
    "sys.argv[0] = 'train.py'\n"
    "runpy.run_path('train.py', run_name='__main__')\n"
)


def nanogpt_command(python, overrides, seed=0):
    """train.py with the README's config file, then `overrides` as flags (the flags win);
    with `seed` N > 0, train.py's own seed (1337) moved to 1337 + N."""
    start = [python, "train.py"] if seed == 0 else [python, "-c", _SEEDED_TRAIN, str(seed)]
    return start + [RECIPE_CONFIG] + [f"--{key}={value}" for key, value in overrides.items()]


def parse_log(lines):
    """Iteration times (seconds) and evaluations `(step, train, val)` from nanoGPT's output."""
    times, evals = [], []
    for line in lines:
        match = _ITER_LINE.match(line)
        if match:
            times.append((int(match.group(1)), float(match.group(3)) / 1000.0))
            continue
        match = _EVAL_LINE.match(line)
        if match:
            evals.append((int(match.group(1)), float(match.group(2)), float(match.group(3))))
    return times, evals


def seconds_per_iteration(times, settle=PROBE_SETTLE):
    """The median time of the iterations after the first `settle` (the probe's measurement)."""
    steady = [dt for step, dt in times if step >= settle]
    if not steady:
        raise RuntimeError(f"nanoGPT's probe logged no iteration after the first {settle}.")
    return statistics.median(steady)


def iterations_for(budget_s, per_iteration_s):
    """`max_iters` that spends `budget_s` at `per_iteration_s` (at least 1)."""
    return max(1, int(budget_s / per_iteration_s))


def run_nanogpt(workdir, overrides, *, timeout_s, seed=0, python=sys.executable, log=print):
    """Run nanoGPT's `train.py` in `workdir`; returns `(wall_s, output lines)`."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    run = subprocess.run(nanogpt_command(python, overrides, seed), cwd=workdir, env=env,
                         capture_output=True, text=True, timeout=timeout_s)
    wall = time.perf_counter() - start
    lines = run.stdout.splitlines()
    if run.returncode != 0:
        tail = "\n".join((run.stdout + run.stderr).splitlines()[-15:])
        raise RuntimeError(f"nanoGPT's train.py exited with {run.returncode}:\n{tail}")
    log(f"    nanoGPT: {len(lines)} log lines in {wall:.1f} s")
    return wall, lines


def score_checkpoint(checkout, checkpoint, test_bin, *, python=sys.executable, timeout_s=900):
    """nanoGPT's checkpoint scored on `test_bin` under ``window 64`` (in a PyTorch process)."""
    run = subprocess.run(
        [python, os.path.abspath(__file__), "--score-checkpoint", checkpoint,
         "--nanogpt", checkout, "--test-bin", test_bin],
        capture_output=True, text=True, timeout=timeout_s)
    if run.returncode != 0:
        raise RuntimeError("scoring nanoGPT's checkpoint failed:\n" + run.stderr[-2000:])
    return json.loads(run.stdout.strip().splitlines()[-1])


def _score_checkpoint_main(checkout, checkpoint, test_bin, batch_size=64):
    """Runs in its own process: PyTorch and nanoGPT's model.py stay out of the main one."""
    import torch

    sys.path.insert(0, checkout)
    from model import GPT, GPTConfig  # nanoGPT's model, from the checkout

    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = GPT(GPTConfig(**saved["model_args"]))
    state = {k.removeprefix("_orig_mod."): v for k, v in saved["model"].items()}
    model.load_state_dict(state)
    model.eval()
    ids = np.fromfile(test_bin, dtype=np.uint16).astype(np.int64)
    x, y = window_batches(ids, WINDOW)
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = torch.from_numpy(x[start:start + batch_size])
            yb = torch.from_numpy(y[start:start + batch_size])
            _, loss = model(xb, yb)  # mean cross-entropy over every position of the batch
            total += float(loss) * yb.numel()
            count += yb.numel()
    print(json.dumps({"test_window64": total / count, "scored": count,
                      "iter_num": int(saved.get("iter_num", -1))}))


def window_batches(ids, window=WINDOW):
    """Non-overlapping windows covering `ids`: inputs and their next-character targets."""
    ids = np.asarray(ids)
    count = (ids.size - 1) // window
    if count < 1:
        raise ValueError(f"{ids.size} ids are too few for one window of {window + 1}.")
    index = np.arange(count)[:, None] * window + np.arange(window + 1)[None, :]
    windows = ids[index]
    # Contiguous copies: nanoGPT's loss reshapes its targets with `view`.
    return np.ascontiguousarray(windows[:, :-1]), np.ascontiguousarray(windows[:, 1:])


def nanogpt_row(checkout, text, train_part, budget_min, *, root, smoke=False, seed=0,
                log=print):
    """Probe, train within the budget, score: one nanoGPT result row (torch seed 1337 + seed)."""
    data = os.path.join(root, "data", DATASET)
    write_nanogpt_data(data, text, train_part)
    make_workdir(checkout, root)
    recipe = dict(NANOGPT_RECIPE)
    if smoke:
        recipe.update(n_layer=1, n_head=2, n_embd=16, eval_iters=2)
    base = {**recipe, "dataset": DATASET, "out_dir": os.path.join(root, "out"),
            "always_save_checkpoint": True}
    budget_s = 60.0 * budget_min
    probe = {**base, "max_iters": PROBE_ITERS, "lr_decay_iters": PROBE_ITERS,
             "eval_interval": 10 ** 9, "eval_iters": 1}
    _, probe_lines = run_nanogpt(root, probe, timeout_s=600, log=log)
    per_iteration = seconds_per_iteration(parse_log(probe_lines)[0])
    iterations = iterations_for(budget_s, per_iteration)
    log(f"    nanoGPT probe: {1000 * per_iteration:.1f} ms/iteration -> {iterations:,} "
        f"iterations in {budget_min:g} min")
    shutil.rmtree(base["out_dir"], ignore_errors=True)
    # Every iteration logged: the sum of nanoGPT's own iteration times (its first and last
    # evaluation included) is its training clock, charged like regkeras' (after start-up).
    run = {**base, "max_iters": iterations, "lr_decay_iters": iterations,
           "eval_interval": iterations, "log_interval": 1}
    wall, lines = run_nanogpt(root, run, timeout_s=max(600, 3 * budget_s), seed=seed, log=log)
    times, evals = parse_log(lines)
    last_step, own_train, own_val = evals[-1]
    scores = score_checkpoint(checkout, os.path.join(base["out_dir"], "ckpt.pt"),
                              os.path.join(data, "test.bin"))
    tokens = iterations * recipe["batch_size"] * recipe["block_size"]
    train_s = sum(dt for _, dt in times)
    # The probe sets the iterations, the run's own clock says what they cost: say how far
    # the run is from its budget, since the table charges nanoGPT its measured time.
    log(f"    nanoGPT trained {train_s:,.0f} s of the {budget_s:,.0f} s budget "
        f"({1000 * train_s / iterations:.1f} ms/iteration against the probe's "
        f"{1000 * per_iteration:.1f})")
    return {
        "model": f"nanoGPT (train part {train_part} %)",
        "seed": seed,
        "budget_min": budget_min,
        "train_part": train_part,
        "iterations": iterations,
        "tokens": tokens,
        "train_s": train_s,
        "process_wall_s": wall,
        "ms_per_iteration_probe": 1000 * per_iteration,
        "test_window64": scores["test_window64"],
        "test_context64": None,
        # nanoGPT's own estimate of its "val" split at the last step: our test part when it
        # trains on 90 %, our validation part when it trains on 80 %.
        "nanogpt_estimate_val": own_val,
        "nanogpt_estimate_train": own_train,
        "nanogpt_estimate_is_test": train_part == 90,
        "scored_characters": scores["scored"],
    }


# --------------------------------------------------------------------------------------------
# regkeras' side


def regkeras_corpus(corpus, train_part):
    """The corpus a regkeras run on the first `train_part` % trains on.

    80: regkeras' own split. 90: nanoGPT's, the validation part appended to the training part
    (the split is contiguous, so that is exactly the first 90 %); the validation part stays
    as the split the run logs, but it is no longer held out, so the run keeps its last weights
    instead of choosing the best-validation ones.
    """
    import numpy as np
    import regkeras

    check_train_part(train_part)
    if train_part == 80:
        return corpus
    return regkeras.data.Corpus(corpus.vocab, np.concatenate([corpus.train_ids, corpus.val_ids]),
                                corpus.val_ids, corpus.test_ids,
                                name=f"{corpus.name} (train part 90 %)")


def regkeras_row(budget_min, corpus, *, train_part=80, smoke=False, seed=0, log=print):
    """`benchmarks/quality.py`'s regularized recipe for the budget, scored both ways."""
    quality = _load_quality()
    keep_best = train_part == 80  # on 90 % the validation part is trained on
    row = quality.run_one("regularized", budget_min, regkeras_corpus(corpus, train_part),
                          seed=seed, smoke=smoke, log=log, score_windows=WINDOW,
                          keep_best=keep_best)
    return {
        "model": f"regkeras (train part {train_part} %)",
        "budget_min": budget_min,
        "train_part": train_part,
        "seed": seed,
        "weights": "best validation" if keep_best else "last",
        "iterations": row["steps"],
        "tokens": row["tokens"],
        "train_s": row["elapsed_s"],
        "process_wall_s": None,
        "ms_per_iteration_probe": None,
        "test_window64": row["test_loss_window"],
        "test_context64": row["test_loss"],
        "nanogpt_estimate_val": None,
        "nanogpt_estimate_train": None,
        "nanogpt_estimate_is_test": None,
        "scored_characters": None,
        "description": row["description"],
    }


def _load_quality():
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quality.py")
    spec = importlib.util.spec_from_file_location("regkeras_benchmark_quality", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------
# Report


def format_table(rows):
    """The side-by-side table (nats per character; lower is better)."""
    from regkeras.experiments import format_table as table

    def cell(value, fmt=".4f"):
        return "—" if value is None else format(value, fmt)

    body = [{
        "budget (min)": f"{row['budget_min']:g}",
        "model": row["model"],
        "tokens": f"{row['tokens']:,}",
        "training (s)": f"{row['train_s']:.0f}",
        "test, window 64": cell(row["test_window64"]),
        "test, context 64": cell(row["test_context64"]),
        "nanoGPT's own val estimate": cell(row["nanogpt_estimate_val"]),
    } for row in rows]
    return table(body, fmt="markdown")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nanogpt", default=None,
                        help="path of a karpathy/nanoGPT checkout (needed to run nanoGPT)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS,
                        help="which side(s) to run")
    parser.add_argument("--budgets", type=float, nargs="+", default=[2.5, 10.0, 30.0],
                        help="wall-clock minutes per run")
    parser.add_argument("--train-parts", type=int, nargs="+", default=list(TRAIN_PARTS),
                        choices=TRAIN_PARTS,
                        help="train on the first 80 and/or 90 %% (regkeras on 90 %% keeps its "
                             "last weights: its validation part is trained on)")
    parser.add_argument("--out", default=None, help="folder for nanogpt.json")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny models, 6-second budgets, slices of the text")
    parser.add_argument("--seed", type=int, default=0,
                        help="regkeras' seed, and nanoGPT's as 1337 + SEED (0: train.py as "
                             "published)")
    parser.add_argument("--score-checkpoint", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--test-bin", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    checkout = None
    if "nanogpt" in args.models or args.score_checkpoint:
        if args.nanogpt is None:
            parser.error("--nanogpt PATH is needed to run nanoGPT (or pass --models regkeras)")
        try:
            checkout = check_checkout(args.nanogpt)
        except ValueError as error:
            parser.error(str(error))
    if args.score_checkpoint:
        return _score_checkpoint_main(checkout, args.score_checkpoint, args.test_bin)
    if any(not b > 0 for b in args.budgets):
        parser.error("--budgets must be positive minutes")

    import regkeras

    quality = _load_quality()
    text = regkeras.datasets.tiny_shakespeare()
    corpus = regkeras.load_corpus("tiny_shakespeare")
    budgets = args.budgets
    if args.smoke:
        text = text[:200_000]
        corpus = regkeras.data.Corpus(corpus.vocab, corpus.train_ids[:20_000],
                                      corpus.val_ids[:3_000], corpus.test_ids[:3_000],
                                      name="tiny_shakespeare (smoke slice)")
        budgets = [SMOKE_BUDGET_MIN]
    machine = {**quality.machine_info(),
               "nanogpt_commit": checkout_commit(checkout) if checkout else None}
    print(f"Machine: {machine}")
    print(f"Load average at start: {quality.load_average()}")
    rows = []
    for budget in budgets:
        # Interleaved: for each train part, nanoGPT then regkeras.
        order = [(who, part) for part in args.train_parts for who in MODELS
                 if who in args.models]
        for who, part in order:
            print(f"{who} @ {budget:g} min, train part {part} %")
            sys.stdout.flush()
            if who == "regkeras":
                rows.append(regkeras_row(budget, corpus, train_part=part, smoke=args.smoke,
                                         seed=args.seed))
                continue
            with tempfile.TemporaryDirectory(prefix="nanogpt-") as root:
                rows.append(nanogpt_row(checkout, text, part, budget, root=root,
                                        smoke=args.smoke, seed=args.seed))
    table = format_table(rows)
    print()
    print(table)
    print(f"\nLoad average at end: {quality.load_average()}")
    result = {"machine": machine, "smoke": args.smoke, "rows": rows, "table": table}
    if args.out:
        from regkeras.files import write_file

        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "nanogpt.json")
        write_file(path, json.dumps(result, indent=1, default=float))
        print(f"Wrote {path}")
    return result


if __name__ == "__main__":
    main()
