"""The tuning guide as code: read a training history, name the problem, give the advice.

:func:`diagnose` looks at the per-epoch training and validation losses that ``fit`` returns
and answers with one of four verdicts, the numbers that support it, and what the course
notes advise for that case:

* ``"unstable"``: a NaN/inf loss, or the training loss jumping well above its best so far;
* ``"overfitting"``: the validation loss reached its minimum and then rose while the
  training loss kept falling (the epoch where that started is reported);
* ``"underfitting"``: high loss everywhere: the loss hardly moved, is still falling when
  training ended, stays close to a trivial baseline, or far above the attainable floor;
* ``"healthy"``: none of these.

One correction to the notes: for underfitting they say "reduce the learning rate"; the
advice here says to *tune* it, because a loss that hardly moves usually needs a larger one.
"""

from __future__ import annotations

import dataclasses
import math

from regkeras.callbacks import history_dict
from regkeras.validation import (
    check_float,
    check_non_negative,
    check_positive,
    check_string,
    described,
    message,
)

__all__ = ["Diagnosis", "diagnose", "ADVICE"]

#: The advice given for each verdict (from the notes' tuning guide, made precise).
ADVICE = {
    "underfitting": [
        "Weaken regularization (less dropout, smaller weight decay): it may be too strong.",
        "Increase model size (more units, layers or a larger embedding).",
        "Tune the learning rate: a loss that hardly moves usually needs a LARGER one; lower "
        "it only if the loss is noisy.",
        "Train longer (more epochs, or a larger early-stopping patience).",
    ],
    "overfitting": [
        "Increase dropout (e.g. 0.3 -> 0.5; variational/embedding dropout for RNNs).",
        "Increase weight decay.",
        "Get more training data.",
        "Reduce model size.",
        "Use early stopping and keep the best epoch's weights (restore_best_weights).",
    ],
    "unstable": [
        "Reduce the learning rate.",
        "Clip gradients (e.g. clipnorm=1.0 in the optimizer).",
        "Add layer normalization to the recurrent layers.",
        "Check the inputs for NaN/inf and the loss for log(0) (use from_logits=True).",
    ],
    "healthy": [
        "Nothing urgent. Keep early stopping on; to improve further, try a slightly larger "
        "model together with more dropout.",
    ],
}


@dataclasses.dataclass
class Diagnosis:
    """The verdict of :func:`diagnose`, with its evidence and advice.

    Attributes:
        verdict: ``"underfitting"``, ``"overfitting"``, ``"unstable"`` or ``"healthy"``.
        summary: One sentence explaining the verdict with numbers.
        epoch: 1-based epoch where the problem starts (first epoch after the best one for
            overfitting, the first NaN or spike for instability), else ``None``.
        evidence: The numbers behind the verdict (losses, gap, best epoch, ...).
        advice: What to try next.
        notes: Further observations that did not decide the verdict.
    """

    verdict: str
    summary: str
    epoch: int | None = None
    evidence: dict = dataclasses.field(default_factory=dict)
    advice: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)

    def __str__(self):
        head = f"Verdict: {self.verdict}"
        if self.epoch is not None:
            head += f" (from epoch {self.epoch})"
        lines = [head, self.summary, "Evidence:"]
        for key, value in self.evidence.items():
            if isinstance(value, float):
                value = f"{value:.4g}"
            lines.append(f"  {key}: {value}")
        if self.notes:
            lines.append("Notes:")
            lines.extend(f"  - {n}" for n in self.notes)
        lines.append("Advice:")
        lines.extend(f"  - {a}" for a in self.advice)
        return "\n".join(lines)




def _first_nonfinite(values):
    for i, v in enumerate(values):
        if not math.isfinite(v):
            return i
    return None


def diagnose(
    history,
    *,
    monitor="val_loss",
    baseline_loss=None,
    floor_loss=None,
    spike_tolerance=0.1,
    overfit_tolerance=0.02,
    stall_tolerance=0.02,
    still_improving_tolerance=0.01,
    floor_tolerance=0.25,
    baseline_margin=0.05,
):
    """Reads a training history and says what is wrong with it, if anything.

    The checks, in order (the first that fires decides the verdict):

    1. **unstable**: a NaN/inf training or validation loss; or a training loss that rises
       more than ``spike_tolerance`` (relative) above its best so far.
    2. **overfitting**: the validation loss rose more than ``overfit_tolerance`` (relative)
       above its minimum while the training loss kept falling; overfitting starts in the
       epoch after the best one.
    3. **underfitting**: the training loss fell less than ``stall_tolerance`` (relative)
       over the run; or the best loss is not at least ``baseline_margin`` below
       ``baseline_loss`` (e.g. a unigram model's loss); or it is more than
       ``floor_tolerance`` above ``floor_loss`` (e.g. the corpus' entropy rate); or the
       validation loss was still falling by more than ``still_improving_tolerance`` per
       epoch when training ended.
    4. **healthy** otherwise.

    Args:
        history: ``keras.callbacks.History`` from ``fit``, a
            :class:`regkeras.callbacks.TrainingMonitor`, or a dict with ``"loss"`` (and,
            for overfitting, ``monitor``) lists, in nats.
        monitor: Validation key. Default ``"val_loss"``.
        baseline_loss: Optional loss of a trivial model (same units) to beat.
        floor_loss: Optional lowest attainable loss (the entropy rate), same units.
        spike_tolerance: Relative rise of the training loss counted as a spike.
        overfit_tolerance: Relative rise of the validation loss above its minimum counted
            as overfitting.
        stall_tolerance: Smallest relative decrease of the training loss over the run.
        still_improving_tolerance: Relative last-epoch decrease of the validation loss
            above which training is "still improving".
        floor_tolerance: Relative excess over ``floor_loss`` counted as high.
        baseline_margin: Relative margin by which ``baseline_loss`` must be beaten.

    Returns:
        A :class:`Diagnosis`; ``print`` it for a readable report.

    Example:

    >>> d = diagnose({"loss": [2.0, 1.5, 1.2, 1.0, 0.8],
    ...               "val_loss": [2.0, 1.6, 1.5, 1.6, 1.8]})
    >>> d.verdict, d.epoch
    ('overfitting', 4)
    """
    data = history_dict(history)
    check_string("monitor", monitor, "a metric name such as 'val_loss'")
    train = data.get("loss")
    if not train:
        raise ValueError("The history has no 'loss' values: pass the result of model.fit.")
    val = data.get(monitor) or None
    if val is not None and len(val) != len(train):
        # Read side by side, epoch by epoch: fewer values (fit's `validation_freq` > 1, or
        # lists from different runs) would compare the wrong epochs with each other.
        raise ValueError(message(
            "history", f"one {monitor!r} value per 'loss' value (one of each per epoch; fit "
            "with validation_freq=1)",
            described(f"{len(train)} 'loss' values and {len(val)} {monitor!r} values")))
    for name in ("spike_tolerance", "overfit_tolerance", "stall_tolerance",
                 "still_improving_tolerance", "floor_tolerance", "baseline_margin"):
        check_float(name, locals()[name], low=0, low_open=True)
    check_positive("baseline_loss", baseline_loss, allow_none=True)
    check_non_negative("floor_loss", floor_loss, allow_none=True)

    n = len(train)
    evidence = {"epochs": n, "final_train_loss": train[-1]}
    if val is not None:
        evidence["final_val_loss"] = val[-1]
    notes = []
    if val is None:
        notes.append(f"No '{monitor}' in the history: overfitting cannot be judged.")

    def result(verdict, summary, epoch=None):
        return Diagnosis(verdict, summary, epoch, evidence, list(ADVICE[verdict]), notes)

    # 1. Instability: NaN/inf, then spikes of the training loss.
    bad = [(i, key) for key, vals in (("loss", train), (monitor, val)) if vals
           for i in [_first_nonfinite(vals)] if i is not None]
    if bad:
        i, key = min(bad)
        evidence["first_nonfinite_epoch"] = i + 1
        evidence["nonfinite_metric"] = key
        return result("unstable", f"'{key}' became NaN/inf in epoch {i + 1}.", i + 1)
    spikes = []
    for t in range(1, n):
        best = min(train[:t])
        rise = (train[t] - best) / max(abs(best), 1e-12)
        if rise > spike_tolerance:
            spikes.append((t, rise))
    if spikes:
        t, _ = spikes[0]
        worst = max(r for _, r in spikes)
        evidence.update(spike_epochs=[s + 1 for s, _ in spikes], largest_spike=worst)
        return result(
            "unstable",
            f"The training loss jumped {100 * worst:.0f}% above its best so far "
            f"({len(spikes)} epoch(s), first in epoch {t + 1}).",
            t + 1,
        )

    # 2. Overfitting: validation loss turned up while the training loss kept falling.
    if val is not None:
        b = min(range(len(val)), key=val.__getitem__)
        gap_best = val[b] - train[b] if b < n else float("nan")
        gap_end = val[-1] - train[min(len(val), n) - 1]
        evidence.update(best_epoch=b + 1, best_val_loss=val[b], gap_at_best=gap_best,
                        gap_at_end=gap_end)
        rise = (val[-1] - val[b]) / max(abs(val[b]), 1e-12)
        if b < len(val) - 1 and rise > overfit_tolerance and train[-1] < train[min(b, n - 1)]:
            fall = (train[min(b, n - 1)] - train[-1]) / max(abs(train[min(b, n - 1)]), 1e-12)
            evidence.update(val_rise_since_best=rise, train_fall_since_best=fall)
            found = result(
                "overfitting",
                f"Validation loss bottomed out at {val[b]:.4g} in epoch {b + 1} and rose "
                f"{100 * rise:.1f}% by epoch {len(val)} while the training loss fell "
                f"{100 * fall:.1f}%; the generalization gap grew from {gap_best:.3g} to "
                f"{gap_end:.3g}.",
                b + 2,
            )
            found.advice[-1] += f" Here that is epoch {b + 1}."
            return found
        if val[-1] < train[-1] * (1 - 0.05):
            notes.append(
                f"Validation loss ({val[-1]:.4g}) is well below training loss ({train[-1]:.4g}): "
                "training is measured with dropout on, so regularization is strong."
            )

    # 3. Underfitting: high loss everywhere.
    best_loss = min(val) if val is not None else min(train)
    reasons = []
    progress = (train[0] - min(train)) / max(abs(train[0]), 1e-12)
    evidence["train_loss_decrease"] = progress
    if n >= 2 and progress < stall_tolerance:
        reasons.append(f"the training loss fell only {100 * progress:.1f}% over {n} epochs")
    if baseline_loss is not None:
        evidence["baseline_loss"] = float(baseline_loss)
        if best_loss > baseline_loss * (1 - baseline_margin):
            reasons.append(
                f"the best loss {best_loss:.4g} is not clearly below the baseline "
                f"{baseline_loss:.4g}"
            )
    if floor_loss is not None:
        evidence["floor_loss"] = float(floor_loss)
        excess = (best_loss - floor_loss) / max(abs(floor_loss), 1e-12)
        evidence["excess_over_floor"] = excess
        if excess > floor_tolerance:
            reasons.append(
                f"the best loss {best_loss:.4g} is {100 * excess:.0f}% above the floor "
                f"{floor_loss:.4g}"
            )
    curve = val if val is not None else train
    if len(curve) >= 2:
        last_gain = (curve[-2] - curve[-1]) / max(abs(curve[-2]), 1e-12)
        evidence["last_epoch_improvement"] = last_gain
        if last_gain > still_improving_tolerance:
            reasons.append(
                f"the {'validation' if val is not None else 'training'} loss was still "
                f"falling {100 * last_gain:.1f}% per epoch when training ended"
            )
    if reasons:
        return result("underfitting", "High loss: " + "; ".join(reasons) + ".")

    summary = (f"Validation loss is at or near its best ({best_loss:.4g}, epoch "
               f"{evidence['best_epoch']}) with a gap of {evidence['gap_at_end']:.3g}."
               if val is not None else
               f"The training loss fell {100 * progress:.1f}% and has levelled off.")
    return result("healthy", summary)
