"""Plot of an infilled series: observed values, filled values, and the truth if known."""

from __future__ import annotations

import numpy as np

from encoderkit.outputs import atomic_write


def plot_infill(data: np.ndarray, filled: np.ndarray, path: str, truth: np.ndarray | None = None,
                title: str | None = None) -> None:
    """``data`` / ``filled`` / ``truth``: ``[L]`` or ``[C, L]``; one panel per channel.
    A Figure of its own on the Agg canvas, no pyplot: the session's matplotlib backend (a
    notebook's inline one) and its open figures are left as they are."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = np.atleast_2d(np.asarray(data, dtype=np.float64))
    filled = np.atleast_2d(np.asarray(filled, dtype=np.float64))
    truth = None if truth is None else np.atleast_2d(np.asarray(truth, dtype=np.float64))
    c, l = data.shape
    fig = Figure(figsize=(10, 2.6 * c))
    FigureCanvasAgg(fig)
    axes = fig.subplots(c, 1, squeeze=False, sharex=True)
    t = np.arange(l)
    for k, ax in enumerate(axes[:, 0]):
        gap = ~np.isfinite(data[k])
        ax.plot(t, data[k], color="0.2", lw=1.0, label="observed")
        # Filled values drawn where the input was missing (with a neighbour on each side, so
        # a one-sample gap still shows as a short line).
        show = gap | np.roll(gap, 1) | np.roll(gap, -1)
        ax.plot(t, np.where(show, filled[k], np.nan), color="tab:red", lw=1.2, label="filled")
        if truth is not None:
            ax.plot(t, np.where(show, truth[k], np.nan), color="tab:blue", lw=1.0, ls="--",
                    label="truth")
        ax.set_ylabel(f"channel {k}")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    if title:
        axes[0, 0].set_title(title)
    axes[-1, 0].set_xlabel("time step")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
