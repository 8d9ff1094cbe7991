# Copyright (c) mmbrain contributors. All rights reserved.
"""mmbrain's figures (matplotlib, Agg canvas, atomic PNG writes).

- :mod:`.scalar_logs`: read mmengine's ``scalars.json`` logs (:func:`load_scalar_log`);
- :mod:`.training_curves`: pretraining losses, temperature, lr and retrieval vs iteration, runs overlaid;
- :mod:`.roi_bars`: mean Pearson r per ROI group and model, with the noise ceiling in r units;
- :mod:`.brain_map`: result maps over the subject's anatomy (nilearn), or voxels at their 3D coordinates in three
  projections and a 3D view (the fallback);
- :mod:`.gradcam`: Grad-CAM of cos(image embedding, brain embedding) for any ``image_embed`` callable (Fig. 6);
- :mod:`.brainformer_gradcam`: its adapter for ``BrainformerPretrainer`` and the Fig. 6 figure of several of them;
- :mod:`.gradcam_figure`: the Fig. 6 grid, one row per model;
- :mod:`.ablation`: the Table 3-style ablation bars;
- :mod:`.brain_visualizer`: ``BrainVisualizer``, the registered mmengine visualizer drawing all of them;
- :mod:`.figure_io`: headless figures, atomic saving, rasterising.
"""

from .ablation import plot_ablation
from .brain_map import nilearn_available, plot_brain_map, plot_result_maps
from .brain_visualizer import BrainVisualizer
from .brainformer_gradcam import BrainformerImageEmbed, brainformer_gradcam, plot_brainformer_gradcam
from .figure_io import figure_to_rgb, new_figure, save_figure
from .gradcam import GradCAMResult, brain_gradcam
from .gradcam_figure import overlay_cam, plot_gradcam_grid
from .roi_bars import ceiling_in_r, plot_roi_correlations
from .scalar_logs import RETRIEVAL_PATTERN, ScalarLog, find_scalar_files, load_scalar_log, load_tensorboard_scalars
from .training_curves import plot_training_curves

__all__ = [
    'BrainVisualizer',
    'plot_training_curves',
    'plot_roi_correlations',
    'plot_brain_map',
    'plot_gradcam_grid',
    'plot_ablation',
    'brain_gradcam',
    'GradCAMResult',
    'BrainformerImageEmbed',
    'brainformer_gradcam',
    'plot_brainformer_gradcam',
    'overlay_cam',
    'ceiling_in_r',
    'load_scalar_log',
    'find_scalar_files',
    'ScalarLog',
    'RETRIEVAL_PATTERN',
    'save_figure',
    'new_figure',
    'figure_to_rgb',
    'plot_result_maps',
    'nilearn_available',
    'load_tensorboard_scalars',
]
