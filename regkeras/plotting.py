"""Figures of training runs: train vs. validation curves with the gap, best and stop epochs.

`plot_history` draws one or several runs (Keras `History` objects, `TrainingMonitor`s or dicts
of lists) on one figure; the experiment tables (`Comparison.plot`, `SeedComparison.plot`) and
`TrainingMonitor` draw with it. It returns an open pyplot figure and never switches the
matplotlib backend: a notebook shows it, a script saves it (`path=`), and matplotlib itself
falls back to the non-interactive Agg backend where there is no display.
"""

import numbers
import os

import numpy as np

from regkeras.callbacks import TrainingMonitor, _check_monitor, history_dict
from regkeras.metrics import bits_per_char, perplexity
from regkeras.validation import check_bool, check_choice, message

__all__ = ["plot_history"]


_UNITS = {"loss": "", "perplexity": "perplexity", "bpc": "bpc"}


def _converted(losses, metric):
    """Losses in nats on the scale of `metric` ("loss", "perplexity" or "bpc"); NaN stays NaN."""
    if metric == "perplexity":
        return np.asarray(perplexity(losses), dtype=float)
    if metric == "bpc":
        return np.asarray(bits_per_char(losses), dtype=float)
    return np.asarray(losses, dtype=float)


def _new_figure(figsize=(7, 4.2)):
    """A new pyplot figure and axes, left open: ``plt.show()`` (or the end of a notebook
    cell) displays it, as for any pyplot figure. Matplotlib itself falls back to the
    non-interactive Agg backend where there is no display, so scripts never need one."""
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def plot_history(
    histories,
    *,
    metric="loss",
    monitor="val_loss",
    stopped=None,
    ax=None,
    title=None,
    gap=True,
    path=None,
    log_scale=False,
):
    """Train vs. validation curves of one or several runs on one figure.

    For each run, the training curve is solid and the validation curve dashed in the same
    colour; the gap between them is shaded, the best epoch (lowest ``monitor``) is marked
    with a star and, where known, the epoch at which early stopping ended the run with a
    cross and a dotted vertical line. Returns the open pyplot ``Figure``: end a notebook
    cell with ``plt.show()`` to display it; in a script pass ``path`` (or call
    ``fig.savefig``), no display needed.

    Args:
        histories: A ``{name: history}`` dict, or a single history. A history is a Keras
            ``History``, a :class:`TrainingMonitor` or a dict of lists.
        metric: ``"loss"`` (nats), ``"perplexity"`` or ``"bpc"`` (bits per token); derived
            from ``loss``/``val_loss`` when the history lacks them.
        monitor: The key whose minimum is the best epoch. Default ``"val_loss"``.
        stopped: Optional ``{name: 0-based epoch}`` of early-stop points (a
            TrainingMonitor's own ``stopped_epoch`` is used when this is not given).
        ax: Optional Matplotlib axes to draw into.
        title: Figure title.
        gap: Shade the generalization gap. Default ``True``.
        path: Optional file to save the figure to.
        log_scale: Logarithmic y axis.

    Returns:
        The ``matplotlib.figure.Figure``.

    Example:

    >>> fig = plot_history({"baseline": h1, "regularized": h2}, path="compare.png")
    """
    check_choice("metric", metric, sorted(_UNITS), lower=False)
    check_bool("gap", gap)
    check_bool("log_scale", log_scale)
    _check_monitor(monitor)
    if histories is None or isinstance(histories, (str, bytes, numbers.Number)):
        raise TypeError(message("histories", "a {name: history} dict or one history",
                                histories))
    if not isinstance(histories, dict) or (
        histories and all(isinstance(v, (list, tuple)) for v in histories.values())
    ):
        histories = {"": histories}
    if not histories:
        raise ValueError("`histories` is empty: pass at least one run.")
    if stopped is not None and not isinstance(stopped, dict):
        raise TypeError(message("stopped", "a dict {name: epoch} or None", stopped))

    import matplotlib

    if ax is None:
        fig, ax = _new_figure()
    else:
        fig = ax.figure

    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, run) in enumerate(histories.items()):
        data = history_dict(run)
        epochs_index = list(run.epochs) if isinstance(run, TrainingMonitor) else None
        curves = {}
        for prefix in ("", "val_"):
            key = prefix + metric
            if key in data:
                curves[prefix] = np.asarray(data[key], dtype=float)
            elif metric != "loss" and prefix + "loss" in data:
                losses = np.asarray(data[prefix + "loss"], dtype=float)
                curves[prefix] = _converted(losses, metric)
        if not curves:
            raise ValueError(f"Run {name!r} has neither '{metric}' nor 'loss' in its history.")
        n = max(len(c) for c in curves.values())
        x = np.asarray(epochs_index, dtype=float) + 1 if epochs_index else np.arange(1, n + 1)
        color = colors[i % len(colors)]
        label = f"{name} " if name else ""
        if "" in curves:
            ax.plot(x[: len(curves[""])], curves[""], "-", color=color, label=f"{label}train")
        if "val_" in curves:
            ax.plot(x[: len(curves["val_"])], curves["val_"], "--", color=color,
                    label=f"{label}validation")
        if gap and "" in curves and "val_" in curves:
            m = min(len(curves[""]), len(curves["val_"]))
            ax.fill_between(x[:m], curves[""][:m], curves["val_"][:m], color=color, alpha=0.12,
                            label=f"{label}gap" if i == 0 and not name else None)
        # Best epoch: the minimum of `monitor` (on the plotted scale of its curve).
        mon = data.get(monitor)
        if mon:
            vals = np.asarray(mon, dtype=float)
            if np.isfinite(vals).any():
                b = int(np.nanargmin(np.where(np.isfinite(vals), vals, np.nan)))
                plotted = curves.get("val_" if monitor.startswith("val_") else "")
                if plotted is not None and b < len(plotted):
                    ax.plot(x[b], plotted[b], "*", color=color, markersize=13,
                            markeredgecolor="black", label=f"{label}best (epoch {int(x[b])})")
        stop = None
        if stopped is not None and name in stopped:
            stop = stopped[name]
        elif isinstance(run, TrainingMonitor):
            stop = run.stopped_epoch
        if stop is not None:
            xs = float(stop) + 1
            ax.axvline(xs, color=color, linestyle=":", alpha=0.8)
            plotted = curves.get("val_", curves.get(""))
            idx = np.where(x == xs)[0]
            if len(idx) and idx[0] < len(plotted):
                ax.plot(xs, plotted[idx[0]], "X", color=color, markersize=10,
                        markeredgecolor="black", label=f"{label}early stop (epoch {int(xs)})")
    ax.set_xlabel("epoch")
    ax.set_ylabel({"loss": "loss (nats per token)", "perplexity": "perplexity",
                   "bpc": "bits per token"}[metric])
    if log_scale:
        ax.set_yscale("log")
    ax.set_title(title if title is not None else "train vs. validation")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        directory = os.path.dirname(os.fspath(path))
        if directory:
            os.makedirs(directory, exist_ok=True)
        fig.savefig(path, dpi=100)
    return fig
