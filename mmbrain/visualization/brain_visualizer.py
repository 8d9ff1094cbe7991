# Copyright (c) mmbrain contributors. All rights reserved.
"""``BrainVisualizer``: mmbrain's figures as an mmengine visualizer, for configs and hooks.

Configs select it like any mmengine visualizer::

    visualizer = dict(type='BrainVisualizer', vis_backends=[dict(type='LocalVisBackend')])

Each ``draw_*`` method renders one figure of :mod:`mmbrain.visualization` into an RGB image (also set as the
visualizer's current image, see :meth:`get_image`) and, following mmpretrain's ``UniversalVisualizer``, writes it
to ``out_file`` when one is given (atomically, the file's format following its suffix) or else records it in every
vis backend with ``add_image(name, image, step)`` (``LocalVisBackend`` writes ``vis_data/vis_image/<name>_<step>.png``,
TensorBoard/W&B backends log it). During training,
:class:`~mmbrain.engine.hooks.BrainEncodingVisualizationHook` draws the per-ROI encoding accuracy with it after each
validation (``custom_hooks``), as mmpretrain's ``VisualizationHook`` drives its visualizer. The plain functions
(:func:`.plot_training_curves` ...) return the matplotlib figures for scripts that want them directly.
"""

from typing import Any, Mapping, Optional

import numpy as np
from matplotlib.figure import Figure
from mmengine.dist import master_only
from mmengine.visualization import Visualizer

from mmbrain.registry import VISUALIZERS

from .ablation import plot_ablation
from .brain_map import plot_brain_map
from .figure_io import PathLike, figure_to_rgb, save_figure
from .gradcam_figure import plot_gradcam_grid
from .roi_bars import plot_roi_correlations
from .training_curves import plot_training_curves


@VISUALIZERS.register_module()
class BrainVisualizer(Visualizer):
    """mmengine visualizer drawing Brainformer's analysis figures.

    Args:
        name: instance name (mmengine's ``ManagerMixin``: ``BrainVisualizer.get_current_instance()``).
        vis_backends: vis backend configs (e.g. ``[dict(type='LocalVisBackend')]``).
        save_dir: folder of the backends' files (they write into ``<save_dir>/vis_data``).
        dpi: resolution of the rendered figures.
        **kwargs: other :class:`mmengine.visualization.Visualizer` arguments.
    """

    def __init__(
        self,
        name: str = 'visualizer',
        vis_backends: Optional[list] = None,
        save_dir: Optional[str] = None,
        dpi: int = 100,
        **kwargs,
    ) -> None:
        super().__init__(name=name, vis_backends=vis_backends, save_dir=save_dir, **kwargs)
        self.figure_dpi = dpi

    def _publish(self, fig: Figure, name: str, step: int, out_file: Optional[PathLike]) -> np.ndarray:
        image = figure_to_rgb(fig)
        self.set_image(image)
        if out_file is not None:
            save_figure(fig, out_file)
        else:
            self.add_image(name, image, step)
        return image

    @master_only
    def draw_training_curves(
        self, runs: Any, name: str = 'training_curves', step: int = 0, out_file: Optional[PathLike] = None, **kwargs
    ) -> np.ndarray:
        """Render :func:`.plot_training_curves` (``runs`` and ``kwargs`` as there); returns the RGB image."""
        fig = plot_training_curves(runs, dpi=kwargs.pop('dpi', self.figure_dpi), **kwargs)
        return self._publish(fig, name, step, out_file)

    @master_only
    def draw_roi_correlations(
        self,
        correlations: Mapping[str, Mapping[str, Any]],
        name: str = 'roi_correlations',
        step: int = 0,
        out_file: Optional[PathLike] = None,
        **kwargs,
    ) -> np.ndarray:
        """Render :func:`.plot_roi_correlations`; returns the RGB image."""
        fig = plot_roi_correlations(correlations, dpi=kwargs.pop('dpi', self.figure_dpi), **kwargs)
        return self._publish(fig, name, step, out_file)

    @master_only
    def draw_brain_map(
        self,
        xyz: np.ndarray,
        values: np.ndarray,
        name: str = 'brain_map',
        step: int = 0,
        out_file: Optional[PathLike] = None,
        **kwargs,
    ) -> np.ndarray:
        """Render :func:`.plot_brain_map`; returns the RGB image."""
        fig = plot_brain_map(xyz, values, dpi=kwargs.pop('dpi', self.figure_dpi), **kwargs)
        return self._publish(fig, name, step, out_file)

    @master_only
    def draw_gradcam(
        self,
        images: Any,
        cams: Mapping[str, Any],
        name: str = 'gradcam',
        step: int = 0,
        out_file: Optional[PathLike] = None,
        **kwargs,
    ) -> np.ndarray:
        """Render :func:`.plot_gradcam_grid`; returns the RGB image."""
        fig = plot_gradcam_grid(images, cams, dpi=kwargs.pop('dpi', self.figure_dpi), **kwargs)
        return self._publish(fig, name, step, out_file)

    @master_only
    def draw_ablation(
        self,
        results: Mapping[str, Mapping[str, float]],
        name: str = 'ablation',
        step: int = 0,
        out_file: Optional[PathLike] = None,
        **kwargs,
    ) -> np.ndarray:
        """Render :func:`.plot_ablation`; returns the RGB image."""
        fig = plot_ablation(results, dpi=kwargs.pop('dpi', self.figure_dpi), **kwargs)
        return self._publish(fig, name, step, out_file)
