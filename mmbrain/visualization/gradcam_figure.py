# Copyright (c) mmbrain contributors. All rights reserved.
"""The Grad-CAM figure of paper Fig. 6: input images on the first row, then one row per model.

:func:`plot_gradcam_grid` overlays each model's Grad-CAM maps (:mod:`.gradcam`) on the stimuli with the ``jet``
colour map (warmer = more attention, as in the paper) and prints in each panel the cosine similarity between
the image and brain embeddings that the map explains.
"""

from typing import Mapping, Optional, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .figure_io import PathLike, new_figure, save_figure


def _numpy(array) -> np.ndarray:
    if hasattr(array, 'detach'):
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def overlay_cam(image: np.ndarray, cam: np.ndarray, alpha: float = 0.5, cmap: str = 'jet') -> np.ndarray:
    """Blend a map in [0, 1] over an RGB image.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        cam: ``(H, W)`` values in [0, 1] (clipped).
        alpha: weight of the coloured map.
        cmap: matplotlib colour map.

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    if image.ndim != 3 or image.shape[2] != 3 or cam.shape != image.shape[:2]:
        raise ValueError(
            f'overlay_cam: image must be (H, W, 3) and cam (H, W) of the same size, got {image.shape} and {cam.shape}'
        )
    heat = colormaps[cmap](np.clip(cam, 0.0, 1.0))[..., :3]
    blended = (1.0 - alpha) * image.astype(np.float64) / 255.0 + alpha * heat
    return np.clip(np.rint(blended * 255.0), 0, 255).astype(np.uint8)


def plot_gradcam_grid(
    images,
    cams: Mapping[str, object],
    out_file: Optional[PathLike] = None,
    *,
    similarity: Optional[Mapping[str, object]] = None,
    column_titles: Optional[Sequence[str]] = None,
    title: Optional[str] = 'Grad-CAM of cos(image embedding, brain embedding)',
    alpha: float = 0.5,
    cmap: str = 'jet',
    panel_inches: float = 2.2,
    dpi: int = 100,
) -> Figure:
    """Images and their Grad-CAM overlays, one row per model.

    Args:
        images: ``(N, H, W, 3)`` uint8 RGB stimuli (array or tensor).
        cams: ``{model label: (N, H, W) maps in [0, 1]}``, rows in dict order (e.g. random init, Brainformer
            w/o guidance loss, Brainformer).
        out_file: if given, the figure is also saved there (atomically).
        similarity: ``{model label: (N,)}`` cosine similarities, printed in the panels.
        column_titles: one title per stimulus (e.g. ``'nsd 2951'``).
        title: figure title.
        alpha: weight of the map over the image.
        cmap: colour map of the maps.
        panel_inches: size of one square panel; the figure is ``(N x panel, (1 + rows) x panel + 0.6)`` inches
            plus a colour bar column.
        dpi: dots per inch.

    Returns:
        The figure.
    """
    images = _numpy(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f'plot_gradcam_grid: images must be (N, H, W, 3) RGB, got {images.shape}')
    if not cams:
        raise ValueError('plot_gradcam_grid: no model maps given')
    n = images.shape[0]
    maps = {label: _numpy(cam) for label, cam in cams.items()}
    for label, cam in maps.items():
        if cam.shape != images.shape[:3]:
            raise ValueError(f'plot_gradcam_grid: maps of {label!r} are {cam.shape}, expected {images.shape[:3]}')
    if column_titles is not None and len(column_titles) != n:
        raise ValueError(f'plot_gradcam_grid: {len(column_titles)} column titles for {n} images')
    rows = 1 + len(maps)
    fig = new_figure((n * panel_inches + 0.8, rows * panel_inches + 0.6), dpi)
    axes = fig.subplots(rows, n, squeeze=False)
    row_labels = ['input'] + list(maps)
    for row, label in enumerate(row_labels):
        for col in range(n):
            ax = axes[row, col]
            if row == 0:
                ax.imshow(images[col].astype(np.uint8))
                if column_titles is not None:
                    ax.set_title(column_titles[col], fontsize='small')
            else:
                ax.imshow(overlay_cam(images[col].astype(np.uint8), maps[label][col], alpha, cmap))
                if similarity is not None and label in similarity:
                    sim = float(_numpy(similarity[label])[col])
                    ax.text(
                        0.03,
                        0.03,
                        f'cos={sim:+.2f}',
                        transform=ax.transAxes,
                        fontsize='x-small',
                        color='white',
                        bbox=dict(facecolor='black', alpha=0.6, pad=1.5, lw=0),
                    )
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(label, fontsize='small', fontweight='bold')
    fig.colorbar(
        ScalarMappable(Normalize(0.0, 1.0), cmap=cmap),
        ax=axes[1:, :].ravel().tolist(),
        fraction=0.04,
        label='Grad-CAM (normalised per image)',
    )
    if title:
        fig.suptitle(title, fontweight='bold')
    if out_file is not None:
        save_figure(fig, out_file)
    return fig
