# Copyright (c) mmbrain contributors. All rights reserved.
"""Creating, saving and rasterising matplotlib figures without a screen.

Every plot of :mod:`mmbrain.visualization` is a :class:`matplotlib.figure.Figure` drawn by the Agg canvas:
no pyplot, no global state, no GUI backend, so plotting works on headless machines and in worker threads.
:func:`save_figure` writes PNGs atomically (a temporary file in the same folder, then ``os.replace``), so a run
that is interrupted never leaves a half-written image that a later run would trust.
"""

import os
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mmbrain.utils.atomic import atomic_write

PathLike = Union[str, os.PathLike]


def new_figure(figsize: Tuple[float, float], dpi: int = 100) -> Figure:
    """A figure on an Agg canvas with constrained layout.

    Saved without ``bbox_inches``, its PNG is exactly ``round(figsize * dpi)`` pixels.
    """
    fig = Figure(figsize=figsize, dpi=dpi, layout='constrained')
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out_file: PathLike, dpi: Optional[int] = None) -> Path:
    """Write ``fig`` to ``out_file`` atomically; the format follows the suffix (``.png``, ``.pdf``, ``.svg``).

    Args:
        fig: the figure.
        out_file: destination; missing parent folders are created.
        dpi: resolution of raster formats (default: the figure's own).

    Returns:
        The destination path.
    """
    out_file = Path(out_file)
    fmt = out_file.suffix.lstrip('.').lower()
    if not fmt:
        raise ValueError(f'{out_file}: no suffix to choose the image format from (use e.g. .png)')
    with atomic_write(out_file, 'wb') as f:
        fig.savefig(f, format=fmt, dpi=dpi if dpi is not None else fig.dpi)
    return out_file


def figure_to_rgb(fig: Figure) -> np.ndarray:
    """Rasterise ``fig`` into an ``(H, W, 3)`` uint8 RGB array (what mmengine's ``add_image`` expects)."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
