# Copyright (c) mmbrain contributors. All rights reserved.
"""The Grad-CAM figure of paper Fig. 6: input images on the first row, then one row per model.

:func:`plot_gradcam_grid` overlays each model's Grad-CAM maps (:mod:`.gradcam`) on the stimuli with the ``jet``
colour map (warmer = more attention, as in the paper), prints in each panel the cosine similarity that the map
explains, names under each row's label what the image embedding is compared with (the brain embedding, or the
caption embedding for a CLIP row), and can print the sanity checks under the figure.
:func:`plot_brainformer_gradcam` computes the maps of several pretrainers on one batch and draws them.
"""

from typing import Dict, Mapping, Optional, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from torch import nn

from .figure_io import PathLike, new_figure, save_figure
from .gradcam import brainformer_gradcam

#: What the image embedding is compared with, by the pretrainer's ``pair_key``.
PARTNERS = {'brain': 'brain embedding', 'text': 'caption embedding'}


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
    partners: Optional[Mapping[str, str]] = None,
    footer: Optional[Sequence[str]] = None,
    title: Optional[str] = None,
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
        partners: ``{model label: what its image embedding is compared with}`` (e.g. ``'brain embedding'``,
            ``'caption embedding'``), printed under the row's label and in the default title.
        footer: lines printed under the figure (e.g. :func:`~.gradcam.sanity_lines`).
        title: figure title (default: ``Grad-CAM of cos(image embedding, <partner>)``, naming every partner).
        alpha: weight of the map over the image.
        cmap: colour map of the maps.
        panel_inches: size of one square panel; the figure is ``(N x panel, (1 + rows) x panel + 0.6)`` inches
            plus a colour bar column and the footer's lines.
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
    fig = new_figure((n * panel_inches + 0.8, rows * panel_inches + 0.6 + 0.18 * len(footer or ())), dpi)
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
                partner = (partners or {}).get(label) if row else None
                ax.set_ylabel(label if partner is None else f'{label}\nvs {partner}', fontsize='small')
    fig.colorbar(
        ScalarMappable(Normalize(0.0, 1.0), cmap=cmap),
        ax=axes[1:, :].ravel().tolist(),
        fraction=0.04,
        label='Grad-CAM (normalised per image)',
    )
    if title is None:
        named = list(dict.fromkeys((partners or {}).values())) or ['partner embedding']
        title = f'Grad-CAM of cos(image embedding, {" or ".join(named)})'
    if title:
        fig.suptitle(title, fontweight='bold')
    if footer:
        fig.supxlabel('\n'.join(footer), fontsize='small', ha='left', x=0.01)
    if out_file is not None:
        save_figure(fig, out_file)
    return fig


def plot_brainformer_gradcam(
    models: Mapping[str, nn.Module],
    data: Dict,
    out_file: Optional[PathLike] = None,
    target_layer: Optional[str] = None,
    **kwargs,
) -> Figure:
    """Paper Fig. 6 for several pretrainers on one batch: the stimuli, then one row of maps per model.

    Args:
        models: ``{label: BrainformerPretrainer or ClipPretrainer}``, rows in dict order (e.g. random init,
            Brainformer w/o guidance loss, Brainformer); a ``ClipPretrainer`` row attends to the samples' captions
            (their ``text`` metainfo).
        data: a ``brain_collate`` batch (see :func:`brainformer_gradcam`).
        out_file: if given, the figure is also saved there (atomically).
        target_layer: see :class:`~.gradcam.BrainformerImageEmbed` (the same for every model).
        **kwargs: passed to :func:`plot_gradcam_grid` (``column_titles``, ``title``, ``footer`` ...);
            by default the columns are titled with the samples' ``nsd_id`` when the data samples carry one.

    Returns:
        The figure.
    """
    if not models:
        raise ValueError('plot_brainformer_gradcam: no model given')
    cams, similarity, images = {}, {}, None
    for label, model in models.items():
        result, images = brainformer_gradcam(model, data, target_layer)
        cams[label], similarity[label] = result.cams, result.similarity
    samples = data.get('data_samples') or []
    if 'column_titles' not in kwargs and samples and all('nsd_id' in s for s in samples):
        kwargs['column_titles'] = [f'nsd_id {int(s.nsd_id)}' for s in samples]
    partners = {label: getattr(model, 'pair_key', 'brain') for label, model in models.items()}
    kwargs.setdefault('partners', {label: PARTNERS.get(key, f'{key} embedding') for label, key in partners.items()})
    return plot_gradcam_grid(images, cams, out_file, similarity=similarity, **kwargs)
