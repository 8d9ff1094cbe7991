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

Each is imported on first use (:mod:`mmbrain.utils.lazy`): the plots import matplotlib, only Grad-CAM imports torch.
"""

from ..utils.lazy import lazy_exports

_EXPORTS = {
    'plot_training_curves': '.training_curves',
    'plot_roi_correlations': '.roi_bars',
    'ceiling_in_r': '.roi_bars',
    'plot_brain_map': '.brain_map',
    'plot_result_maps': '.brain_map',
    'nilearn_available': '.brain_map',
    'plot_ablation': '.ablation',
    'brain_gradcam': '.gradcam',
    'GradCAMResult': '.gradcam',
    'BrainformerImageEmbed': '.gradcam',
    'brainformer_gradcam': '.gradcam',
    'gradcam_sanity': '.gradcam',
    'randomize_backbone': '.gradcam',
    'sanity_lines': '.gradcam',
    'plot_gradcam_grid': '.gradcam_figure',
    'plot_brainformer_gradcam': '.gradcam_figure',
    'overlay_cam': '.gradcam_figure',
    'save_figure': '.figure_io',
    'new_figure': '.figure_io',
    'figure_to_rgb': '.figure_io',
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
