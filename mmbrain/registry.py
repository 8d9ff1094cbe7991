# Copyright (c) mmbrain contributors. All rights reserved.
"""Registries of the ``mmbrain`` scope.

Each registry is a child of mmengine's root registry of the same kind, so configs may mix scopes:
``type='BrainformerPretrainer'`` resolves here, ``type='mmpretrain.ConvNeXt'`` in mmpretrain, and mmengine's
own components (Runner, hooks, optimisers, ...) are found through the parent. ``locations`` names the modules
that register into a registry, which mmengine imports on first use, so ``custom_imports`` is enough.

Registries that hold nothing of mmbrain's (loops, optimisers, schedulers, ...) are still declared, without
``locations``: with ``default_scope='mmbrain'`` mmengine's Runner looks every component up in the ``mmbrain`` node
of its registry tree and warns ("Failed to search registry with scope") where that node is missing; an empty node
passes the lookup on to mmengine's own registry.
"""

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

__all__ = [
    'RUNNERS',
    'LOOPS',
    'HOOKS',
    'LOG_PROCESSORS',
    'OPTIMIZERS',
    'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS',
    'DATASETS',
    'DATA_SAMPLERS',
    'TRANSFORMS',
    'MODELS',
    'MODEL_WRAPPERS',
    'WEIGHT_INITIALIZERS',
    'METRICS',
    'EVALUATOR',
    'VISUALIZERS',
    'VISBACKENDS',
    'FUNCTIONS',
]

#######################################################################
#                          mmbrain.engine                             #
#######################################################################
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, locations=['mmbrain.engine'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, locations=['mmbrain.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, locations=['mmbrain.engine']
)
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, locations=['mmbrain.engine'])
# Scope nodes only (see the module docstring): mmbrain registers none of these.
LOOPS = Registry('loop', parent=MMENGINE_LOOPS)
LOG_PROCESSORS = Registry('log processor', parent=MMENGINE_LOG_PROCESSORS)
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS)
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS)
PARAM_SCHEDULERS = Registry('parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS)

#######################################################################
#                         mmbrain.datasets                            #
#######################################################################
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, locations=['mmbrain.datasets.nsd_dataset'])
DATA_SAMPLERS = Registry('data sampler', parent=MMENGINE_DATA_SAMPLERS)  # scope node only
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, locations=['mmbrain.datasets.transforms'])
# Collate functions: ``collate_fn=dict(type='mmbrain.brain_collate')`` (mmengine's Runner looks collate functions
# up outside the default scope, so the scope prefix is needed).
FUNCTIONS = Registry('function', parent=MMENGINE_FUNCTIONS, locations=['mmbrain.datasets.collate'])

#######################################################################
#                          mmbrain.models                             #
#######################################################################
MODELS = Registry('model', parent=MMENGINE_MODELS, locations=['mmbrain.models'])
WEIGHT_INITIALIZERS = Registry('weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS)  # scope node only

#######################################################################
#                        mmbrain.evaluation                           #
#######################################################################
METRICS = Registry('metric', parent=MMENGINE_METRICS, locations=['mmbrain.evaluation.metrics'])
EVALUATOR = Registry('evaluator', parent=MMENGINE_EVALUATOR)  # scope node only

#######################################################################
#          visualisation: mmengine's Visualizer and backends          #
#######################################################################
VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS)  # scope node only (figures: mmbrain.visualization)
VISBACKENDS = Registry('vis_backend', parent=MMENGINE_VISBACKENDS)  # scope node only
