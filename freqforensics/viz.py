"""Forensic visualisations (matplotlib, an optional extra: ``pip install freqforensics[viz]``).

Every function takes tensors or arrays, draws on a new figure, optionally saves it to ``path``
and returns the :class:`matplotlib.figure.Figure`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from freqforensics._checks import ShapeError, check_float, check_tensor
from freqforensics._io import atomic_write
from freqforensics.functional.color import rgb_to_ycbcr
from freqforensics.functional.dct import block_dct, zigzag_order
from freqforensics.functional.sida import STATISTICS

__all__ = [
    "plot_roc",
    "plot_pr",
    "plot_video_scores",
    "plot_sida_statistics",
    "plot_dct_energy",
    "plot_band_energy",
    "plot_attention_overlay",
    "band_energy_maps",
    "band_mosaic",
    "attention_maps",
    "explain_face",
]

_CHANNELS = ("Y", "Cb", "Cr")


def _plt() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'freqforensics[viz]'") from exc
    return plt


def _finish(fig: Any, path: str | Path | None) -> Any:
    fig.tight_layout()
    if path is not None:  # atomically: a failed rerun never truncates the last good figure
        with atomic_write(path, "wb") as fh:
            fig.savefig(fh, format=Path(path).suffix[1:].lower() or "png", dpi=120)
    return fig


def _np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def plot_roc(
    curves: dict[str, tuple[Any, Any]], path: str | Path | None = None, title: str = "ROC"
) -> Any:
    """ROC curves (scikit-learn's ``roc_curve``) of one or more ``name: (labels, probs)``.

    Example:
        >>> import numpy as np
        >>> from freqforensics.viz import plot_roc
        >>> fig = plot_roc({"model": (np.array([0, 0, 1, 1]), np.array([.1, .4, .35, .8]))})
        >>> len(fig.axes)
        1
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, (labels, probs) in curves.items():
        y, p = _np(labels), _np(probs)
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right", fontsize=8)
    return _finish(fig, path)



def plot_pr(
    curves: dict[str, tuple[Any, Any]], path: str | Path | None = None, title: str = "PR"
) -> Any:
    """Precision-recall curves (fake = positive) of one or more ``name: (labels, probs)``.

    Example:
        >>> import numpy as np
        >>> from freqforensics.viz import plot_pr
        >>> fig = plot_pr({"model": (np.array([0, 0, 1, 1]), np.array([.1, .4, .35, .8]))})
        >>> fig.axes[0].get_xlabel()
        'recall'
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, (labels, probs) in curves.items():
        y, p = _np(labels), _np(probs)
        precision, recall, _ = precision_recall_curve(y, p)
        label = f"{name} (AP {average_precision_score(y, p):.3f})"
        ax.step(recall, precision, where="post", label=label)
        ax.axhline(y.mean(), color="grey", lw=0.8, ls="--")
    ax.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize=8)
    return _finish(fig, path)


def plot_video_scores(
    runs: dict[str, Sequence[dict[str, Any]]],
    path: str | Path | None = None,
    title: str = "Fake probability per video",
) -> Any:
    """Every frame's fake probability, one column per video, one colour per run.

    Where an AUC pools the frames of several videos, this shows what it hides: the level each
    video gets as a whole (a per-video offset) and which videos the runs agree on. A bar marks
    each video's mean; the videos are in the order they first appear (the first run first).

    Args:
        runs: ``name -> predictions``, each prediction a dict with ``video_id``, ``label``
            (0 real, 1 fake) and ``fake_probability`` (as in
            :attr:`freqforensics.evaluation.Evaluation.predictions`).
        path: where to save the figure, or ``None``.
        title: the figure's title.

    Raises:
        ValueError: no runs, a run without predictions, or a prediction without those keys.

    Example:
        >>> from freqforensics.viz import plot_video_scores
        >>> frames = [{"video_id": v, "label": y, "fake_probability": p}
        ...           for v, y, p in [("a", 0, .2), ("a", 0, .3), ("b", 1, .7)]]
        >>> fig = plot_video_scores({"seed 0": frames})
        >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
        ['a (real)', 'b (fake)']
    """
    if not runs:
        raise ValueError("runs must name at least one run, got none")
    keys = ("video_id", "label", "fake_probability")
    for name, rows in runs.items():
        if not rows:
            raise ValueError(f"runs[{name!r}] must hold predictions, got none")
        bad = next((r for r in rows if not all(k in r for k in keys)), None)
        if bad is not None:
            raise ValueError(f"runs[{name!r}]: every prediction needs {', '.join(keys)}; got one "
                             f"with {', '.join(sorted(bad))}")
    videos: dict[str, int] = {}
    for rows in runs.values():
        for r in rows:
            videos.setdefault(str(r["video_id"]), int(r["label"]))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(videos) + 1.5), 4.2))
    width = 0.8 / len(runs)
    rng = np.random.default_rng(0)  # the same jitter on every call
    for k, (name, rows) in enumerate(runs.items()):
        colour = f"C{k % 10}"
        legend: str | None = name
        for i, video in enumerate(videos):
            p = np.array([float(r["fake_probability"]) for r in rows
                          if str(r["video_id"]) == video])
            if p.size == 0:
                continue
            x = i - 0.4 + (k + 0.5) * width
            ax.scatter(x + rng.uniform(-0.3, 0.3, p.size) * width, p, s=6, alpha=0.5,
                       color=colour, label=legend)
            legend = None  # one legend entry per run
            ax.hlines(p.mean(), x - 0.45 * width, x + 0.45 * width, color=colour, lw=2)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    names = [f"{v} ({'fake' if label else 'real'})" for v, label in videos.items()]
    ax.set_xticks(range(len(videos)), names, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="fake probability", ylim=(-0.02, 1.2), title=title)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.legend(loc="upper center", ncol=min(4, len(runs)), fontsize=7, markerscale=2)
    return _finish(fig, path)


def _sida_block(vectors: Any, statistic: str, channel: str) -> np.ndarray:
    v = _np(vectors)
    if v.ndim == 1:
        v = v[None]
    if v.ndim != 2 or v.shape[1] != 2304:
        raise ShapeError(f"SIDA vectors must have shape (N, 2304) or (2304,), got {v.shape}")
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {list(STATISTICS)}, got {statistic!r}")
    if channel not in _CHANNELS:
        raise ValueError(f"channel must be one of {list(_CHANNELS)}, got {channel!r}")
    s, c = STATISTICS.index(statistic), _CHANNELS.index(channel)
    return v.reshape(-1, 4, 3, 192)[:, s, c].mean(axis=0)


def plot_sida_statistics(
    real: Any,
    fake: Any,
    statistic: str = "mean",
    channel: str = "Y",
    path: str | Path | None = None,
    title: str | None = None,
    log_scale: bool | None = None,
) -> Any:
    """The paper's Figure 7: one SIDA statistic over its 192 positions, real vs fake.

    The 192 positions are the 64 bands of the row differential, then col, then intra (zigzag
    order within each). Red: real, blue: fake, green: their difference (fake - real), as in the
    paper. ``real`` and ``fake`` are SIDA vectors ``(2304,)`` of one image each, or ``(N, 2304)``
    sets that are averaged. ``log_scale`` draws the top panel on a log axis (default: when all
    values but the padded band are positive and span more than two decades, as the means and
    stds do).

    Example:
        >>> import torch
        >>> from freqforensics.viz import plot_sida_statistics
        >>> fig = plot_sida_statistics(torch.rand(3, 2304), torch.rand(2, 2304))
        >>> len(fig.axes)
        2
    """
    r = _sida_block(real, statistic, channel)
    f = _sida_block(fake, statistic, channel)
    plt = _plt()
    fig, (ax, ax_d) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    x = np.arange(192)
    ax.plot(x, r, color="tab:red", lw=1, label="real")
    ax.plot(x, f, color="tab:blue", lw=1, label="fake")
    ax_d.plot(x, f - r, color="tab:green", lw=1, label="fake - real")
    ax_d.axhline(0, color="grey", lw=0.6)
    for a in (ax, ax_d):
        for edge in (64, 128):
            a.axvline(edge, color="grey", lw=0.6, ls=":")
        a.legend(loc="upper right", fontsize=8)
    both = np.concatenate([r, f])
    positive = both[both > 0]
    if log_scale is None:
        log_scale = bool(
            positive.size >= 0.95 * both.size and positive.max() / positive.min() > 100
        )
    if log_scale:
        ax.set_yscale("log")
    ax.set_ylabel(statistic)
    ax_d.set_ylabel("difference")
    ax_d.set_xticks([32, 96, 160], ["row (64 bands)", "col (64 bands)", "intra (64 bands)"])
    ax.set_title(title or f"SIDA {statistic} of |differentials|, {channel} channel")
    return _finish(fig, path)


def band_energy_maps(image: torch.Tensor, channel: int = 0) -> torch.Tensor:
    """Per-band log energy maps of the block DCT: ``(3, H, W)`` image -> ``(64, h, w)``.

    Entry ``k`` is ``log10(1 + c_k^2)`` of zigzag band ``k`` at every block (pixel units 0-255)
    of the float RGB ``image`` in [0, 1], cropped to the 8-pixel grid; ``channel``: 0 (Y), 1
    (Cb) or 2 (Cr).
    """
    check_float(check_tensor(image, "image"), "image", image=True)
    if image.ndim != 3 or image.shape[0] != 3 or min(image.shape[-2:]) < 8:
        raise ShapeError(f"image must have shape (3, H, W), H, W >= 8, got {tuple(image.shape)}")
    if isinstance(channel, bool) or channel not in (0, 1, 2):
        raise ValueError(f"channel must be 0 (Y), 1 (Cb) or 2 (Cr), got {channel!r}")
    h, w = image.shape[-2] // 8 * 8, image.shape[-1] // 8 * 8
    ycc = rgb_to_ycbcr(image[:, :h, :w].double()) * 255
    return torch.log10(1 + block_dct(ycc[channel]) ** 2)


def band_mosaic(maps: torch.Tensor) -> torch.Tensor:
    """Arrange 64 zigzag-ordered band maps as the 8 x 8 frequency grid: ``(64, h, w) -> (8h, 8w)``.

    Band ``(u, v)`` (``u`` the vertical frequency, ``v`` the horizontal one) is drawn at grid
    row ``u``, column ``v``, i.e. in the rows ``u*h:(u+1)*h`` and columns ``v*w:(v+1)*w`` of the
    mosaic, like the coefficients of one 8x8 block: DC top-left, vertical frequencies growing
    downwards, horizontal ones to the right. Input band ``p`` is zigzag position ``p``
    (:func:`~freqforensics.functional.zigzag_order` maps it to the natural index ``8u + v``).

    Example:
        >>> import torch
        >>> from freqforensics.viz import band_mosaic
        >>> maps = torch.zeros(64, 2, 3)
        >>> maps[2] = 1.0  # zigzag position 2 is band (u, v) = (1, 0)
        >>> mosaic = band_mosaic(maps)
        >>> mosaic.shape, mosaic[2:4, 0:3].min().item(), mosaic.sum().item()
        (torch.Size([16, 24]), 1.0, 6.0)
    """
    if maps.ndim != 3 or maps.shape[0] != 64:
        raise ShapeError(f"maps must have shape (64, h, w), got {tuple(maps.shape)}")
    natural = torch.empty_like(maps)
    natural[zigzag_order(8).to(maps.device)] = maps  # natural[8u + v] = band (u, v)
    h, w = maps.shape[-2:]
    return natural.view(8, 8, h, w).permute(0, 2, 1, 3).reshape(8 * h, 8 * w)


def plot_band_energy(image: torch.Tensor, path: str | Path | None = None) -> Any:
    """The image, its Y block-DCT coefficients as 64 band maps (8 x 8 mosaic), band energy curve.

    The mosaic is :func:`band_mosaic`: band ``(u, v)`` at row ``u``, column ``v``. The energy
    curve is in zigzag order.

    Example:
        >>> import torch
        >>> from freqforensics.viz import plot_band_energy
        >>> fig = plot_band_energy(torch.rand(3, 64, 64))
        >>> len(fig.axes) >= 3
        True
    """
    maps = band_energy_maps(image)
    plt = _plt()
    fig = plt.figure(figsize=(13, 4.5))
    gs = fig.add_gridspec(1, 3, width_ratios=[1, 1, 1.2])
    ax0 = fig.add_subplot(gs[0])
    ax0.imshow(image.permute(1, 2, 0).clamp(0, 1).cpu().numpy())
    ax0.set_title("image")
    ax0.axis("off")
    ax1 = fig.add_subplot(gs[1])
    ax1.imshow(band_mosaic(maps).numpy(), cmap="magma")
    ax1.set_title("Y block DCT: band (u, v) at row u, column v")
    ax1.axis("off")
    ax2 = fig.add_subplot(gs[2])
    energy = (10 ** maps.flatten(1) - 1).mean(1).numpy()
    ax2.semilogy(np.arange(64), energy, marker=".")
    ax2.set(xlabel="zigzag band", ylabel="mean energy (Y, 0-255 units)", title="band energy")
    return _finish(fig, path)


def plot_dct_energy(
    real: torch.Tensor, fake: torch.Tensor, path: str | Path | None = None
) -> Any:
    """The paper's Figure 1: full-image DCT against the local block DCT, real vs fake.

    Rows: real, fake, difference (fake - real). Columns: the face, the log magnitude of the
    full-image 2-D DCT of Y (scipy's ``dctn``), and the block DCT's per-band energy regrouped as
    an 8 x 8 mosaic of band maps (:func:`band_mosaic`: band ``(u, v)`` at row ``u``, column
    ``v``). Both images must have the same size.
    """
    from scipy.fft import dctn

    if real.shape != fake.shape:
        raise ShapeError(
            f"real and fake must have the same shape, got {tuple(real.shape)} and "
            f"{tuple(fake.shape)}"
        )
    plt = _plt()
    fig, axes = plt.subplots(3, 3, figsize=(11, 11))
    rows = []
    for img in (real, fake):
        h, w = img.shape[-2] // 8 * 8, img.shape[-1] // 8 * 8
        y = (rgb_to_ycbcr(img[:, :h, :w].double()) * 255)[0].numpy()
        full = np.log10(1 + np.abs(dctn(y - 128, norm="ortho")))
        mosaic = band_mosaic(band_energy_maps(img)).numpy()
        rows.append((img.permute(1, 2, 0).clamp(0, 1).numpy(), full, mosaic))
    diff = (
        np.abs(rows[1][0] - rows[0][0]).mean(-1),
        rows[1][1] - rows[0][1],
        rows[1][2] - rows[0][2],
    )
    titles = ("face", "full-image DCT (log |c|)", "block DCT band energy (8 x 8 bands)")
    for r, (label, row) in enumerate(zip(("real", "fake", "fake - real"), (*rows, diff))):
        for c in range(3):
            ax = axes[r, c]
            if r < 2 and c == 0:
                ax.imshow(row[c])
            else:
                cmap = "magma" if r < 2 else "coolwarm"
                im = ax.imshow(row[c], cmap=cmap)
                if r == 2:
                    lim = float(np.abs(row[c]).max()) or 1.0
                    im.set_clim(-lim, lim) if c else im.set_clim(0, lim)
                fig.colorbar(im, ax=ax, fraction=0.046)
            ax.set_title(f"{label}: {titles[c]}", fontsize=9)
            ax.axis("off")
    return _finish(fig, path)


def plot_attention_overlay(
    image: torch.Tensor,
    maps: dict[str, torch.Tensor],
    path: str | Path | None = None,
    titles: Sequence[str] | None = None,
) -> Any:
    """Overlay ``(h, w)`` maps (FAAE attention received, gate response ...) on the face.

    Each map is resized bilinearly to the image and drawn with transparency over it.
    """
    plt = _plt()
    n = len(maps) + 1
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 4))
    rgb = image.detach().permute(1, 2, 0).clamp(0, 1).cpu().numpy()
    axes[0].imshow(rgb)
    axes[0].set_title("input")
    axes[0].axis("off")
    for ax, (name, m) in zip(axes[1:], maps.items()):
        if m.ndim != 2:
            raise ShapeError(f"map {name!r} must have shape (h, w), got {tuple(m.shape)}")
        up = torch.nn.functional.interpolate(
            m[None, None].float(), size=rgb.shape[:2], mode="bilinear", align_corners=False
        )[0, 0]
        ax.imshow(rgb)
        ax.imshow(up.cpu().numpy(), cmap="jet", alpha=0.45)
        ax.set_title(name)
        ax.axis("off")
    return _finish(fig, path)


def attention_maps(
    intermediates: dict[str, torch.Tensor], index: int = 0
) -> dict[str, torch.Tensor]:
    """Spatial maps of where the detector looks, from ``forward_intermediates(attention=True)``.

    - ``"FAAE: attention received"``: the FAAE attention ``(N, hw, hw)`` (rows are queries)
      averaged over the queries, i.e. how much each block position is attended to, as a
      ``(side, side)`` map of the stride-8 grid.
    - ``"HCMA: gated token contribution"`` (when the output has ``hcma_tokens`` ``(N, L, E)``):
      the norm of each fused token times the SIDA gate, ``(tokens * gate).norm(-1)``, on the
      spatial branch's last map ``(h, w)``.

    Args:
        intermediates: the dict of
            :meth:`~freqforensics.models.SFCLHCMF.forward_intermediates`.
        index: which sample of the batch.

    Returns:
        Map name -> ``(h, w)`` tensor (empty when the model has neither FAAE nor HCMA tokens).
    """
    maps: dict[str, torch.Tensor] = {}
    attn = intermediates.get("faae_attention")
    if attn is not None:
        received = attn[index].float().mean(0)  # (hw,) mean over the queries
        side = int(round(received.numel() ** 0.5))
        if side * side == received.numel():
            maps["FAAE: attention received"] = received.reshape(side, side)
    tokens = intermediates.get("hcma_tokens")
    spatial = intermediates.get("spatial_map")
    if tokens is not None and spatial is not None:
        t = tokens[index].float()  # (L, E)
        gate = intermediates.get("gate")
        if gate is not None and gate.shape[-1] == t.shape[-1]:
            t = t * gate[index].float()
        h, w = spatial.shape[-2:]
        if t.shape[0] == h * w:
            maps["HCMA: gated token contribution"] = t.norm(dim=-1).reshape(h, w)
    return maps


def explain_face(
    model: torch.nn.Module,
    face: torch.Tensor,
    path: str | Path | None = None,
    image: torch.Tensor | None = None,
    sida: torch.Tensor | None = None,
) -> tuple[float, dict[str, torch.Tensor]]:
    """Fake probability of one face, and its attention overlay (:func:`attention_maps`).

    Args:
        model: an :class:`~freqforensics.models.SFCLHCMF` (put in eval mode here).
        face: the face crop at its original resolution, RGB :math:`(3, H, W)` in [0, 1].
        path: where to write the overlay PNG (``None``: no figure; none either when the model
            has no map to show, i.e. neither FAAE nor HCMA tokens).
        image: the model input :math:`(3, S, S)`; by default ``face`` resized to
            ``model.config.img_size`` (bilinear, antialiased).
        sida: the SIDA vector :math:`(2304,)` of ``face``; computed when ``None``.

    Returns:
        ``(probability, maps)``: the predicted probability that the face is fake and the maps
        of :func:`attention_maps`.
    """
    from freqforensics.layers.sida import SIDA

    if face.ndim != 3 or face.shape[0] != 3:
        raise ShapeError(f"face must have shape (3, H, W), got {tuple(face.shape)}")
    model.eval()
    if image is None:
        config: Any = getattr(model, "config", None)
        if config is None:
            raise ValueError("image must be given for a model without a config.img_size")
        size = int(config.img_size)
        image = torch.nn.functional.interpolate(
            face[None].float(),
            size=(size, size),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )[0].clamp(0, 1)
    device = next(model.parameters()).device
    with torch.no_grad():
        if sida is None:
            sida = SIDA()(face[None].float())[0]
        out = model.forward_intermediates(  # type: ignore[operator]
            image[None].to(device), sida=sida[None].to(device), attention=True
        )
    prob = float(torch.sigmoid(out["logits"].float())[0])
    maps = {k: v.cpu() for k, v in attention_maps(out).items()}
    if path is not None and maps:
        fig = plot_attention_overlay(image.cpu(), maps)
        fig.suptitle(f"fake probability {prob:.3f}")
        _finish(fig, path)
        _plt().close(fig)
    return prob, maps
