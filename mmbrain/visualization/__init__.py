# Copyright (c) mmbrain contributors. All rights reserved.
"""mmbrain's figures: plain functions that draw a matplotlib figure (Agg canvas) and save it atomically.

One shape for every figure: ``plot_*(data, out_file=None, **options) -> Figure``; the pipeline's report, the
analysis tools and scripts call them directly (mmengine's own ``Visualizer`` and vis backends log the training
scalars, which :mod:`mmbrain.evaluation.scalar_logs` reads back).

- :mod:`.training_curves`: pretraining losses, temperature, lr and retrieval vs iteration, runs overlaid;
- :mod:`.roi_bars`: mean Pearson r per ROI group and model, with the noise ceiling in r units;
- :mod:`.brain_map`: result maps over the subject's anatomy (nilearn), or voxels at their 3D coordinates in three
  projections and a 3D view (the fallback);
- :mod:`.gradcam`: Grad-CAM of cos(image embedding, partner embedding) (Fig. 6) for any image tower and for the
  pretrainers, and its sanity checks (Adebayo et al., 2018);
- :mod:`.gradcam_figure`: the Fig. 6 grid, one row per model;
- :mod:`.ablation`: the pretraining-variants bars (paper Table 3 when the variants are its ablations);
- :mod:`.figure_io`: headless figures, atomic saving, rasterising.
"""

from .ablation import plot_ablation
from .brain_map import nilearn_available, plot_brain_map, plot_result_maps
from .figure_io import figure_to_rgb, new_figure, save_figure
from .gradcam import (
    BrainformerImageEmbed,
    GradCAMResult,
    brain_gradcam,
    brainformer_gradcam,
    gradcam_sanity,
    randomize_backbone,
    sanity_lines,
)
from .gradcam_figure import overlay_cam, plot_brainformer_gradcam, plot_gradcam_grid
from .roi_bars import ceiling_in_r, plot_roi_correlations
from .training_curves import plot_training_curves

__all__ = [
    'plot_training_curves',
    'plot_roi_correlations',
    'plot_brain_map',
    'plot_result_maps',
    'nilearn_available',
    'plot_gradcam_grid',
    'plot_brainformer_gradcam',
    'plot_ablation',
    'brain_gradcam',
    'GradCAMResult',
    'BrainformerImageEmbed',
    'brainformer_gradcam',
    'gradcam_sanity',
    'randomize_backbone',
    'sanity_lines',
    'overlay_cam',
    'ceiling_in_r',
    'save_figure',
    'new_figure',
    'figure_to_rgb',
]
