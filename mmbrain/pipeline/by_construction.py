# Copyright (c) mmbrain contributors. All rights reserved.
"""Which comparisons the synthetic world decides by construction, per task: the statements the report prints under
each comparison it reads aloud (:attr:`~mmbrain.pipeline.plan.Comparison.by_construction`).

The world (``make_synthetic_nsd.py``, :mod:`mmbrain.datasets.synthetic`) builds every voxel's response as a weighted
sum of the same image features (contrast and luminance through its receptive field, five category drives), for
every subject, the held-out one included; the shuffled-pairing control pairs each image with another image's
response. What that settles in advance, and what it leaves to the runs, is stated here once. With world options
(``--world-args``, e.g. ``--snr 0``) the world is another one, and the statements say only that.
"""

import shlex
from typing import Dict, Sequence, Tuple

__all__ = ['RETRIEVAL', 'WorldStatements', 'synthetic_world_statements', 'statements_for']

#: What a statement calls the pretraining's own held-out retrieval (the other scopes are task names).
RETRIEVAL = 'retrieval'
#: ``{(a, b): {task name or RETRIEVAL: statement}}``; ``'*'`` stands for any initialisation.
WorldStatements = Dict[Tuple[str, str], Dict[str, str]]
ANY = '*'


def statements_for(world: WorldStatements, a: str, b: str) -> Dict[str, str]:
    """The statements of ``a - b``: its own, else those of any initialisation against ``b``, else the default."""
    for key in ((a, b), (ANY, b), (ANY, ANY)):
        if key in world:
            return dict(world[key])
    return {}


def synthetic_world_statements(tasks: Sequence[str], world_args: Sequence[str] = ()) -> WorldStatements:
    """The statements for the default synthetic world, for ``tasks`` (names; those starting with ``encoding`` are
    the brain-response readouts), or, with ``world_args``, one saying that the world is another."""
    encoding = [t for t in tasks if t.startswith('encoding')]
    scenes = [t for t in tasks if not t.startswith('encoding')]
    every = [RETRIEVAL] + list(tasks)

    def each(statement: str, names: Sequence[str]) -> Dict[str, str]:
        return {name: statement for name in names}

    if world_args:
        return {
            (ANY, ANY): each(
                f'made with the world options `{shlex.join(world_args)}`, which change what the world builds in; '
                'see docs/evaluation.md',
                every,
            )
        }
    scene_open = (
        'not decided by construction: boxes, masks and classes are the scene objects, which drive the responses '
        'only through the category drives and the receptive fields; a gain is possible, not built in'
    )
    return {
        ('brainformer', 'random-init'): {
            **each(
                'decided by construction: every voxel of every subject, the held-out one included, is a weighted sum '
                'of the same image features, so a backbone trained to predict these responses learns what the '
                'readout needs',
                encoding,
            ),
            **each(scene_open, scenes),
        },
        (ANY, 'shuffled'): {
            RETRIEVAL: 'decided by construction: only the true pairing links a response to its image, so the '
            'shuffled control must retrieve at chance',
            **each(
                'decided by construction: the true pairing carries the image features the responses are built '
                'from, the shuffled one none (same marginals)',
                encoding,
            ),
            **each(scene_open, scenes),
        },
        ('brainformer', 'clip'): {
            **each(
                'favours the brain pairing by construction wherever the captions leave out features the responses '
                'are built from (contrast and luminance maps, category areas); what the captions describe is a '
                'world option',
                encoding,
            ),
            **each(
                'not decided by construction: the captions name the categories and counts the tasks label, the '
                'responses carry them only through the voxels',
                scenes,
            ),
        },
        ('shuffled', 'random-init'): each(
            'not decided by construction: a shuffled pairing carries no image information, so any difference is '
            'that of pretraining itself',
            list(tasks),
        ),
        ('clip', 'random-init'): each(
            'not decided by construction: the captions describe the objects the tasks label; the world does not '
            'say whether the schedule learns them',
            list(tasks),
        ),
        (ANY, ANY): each(
            'not decided by construction: both are pretrainings on the same images and responses, the world does '
            'not say which variant uses them better',
            [RETRIEVAL] + encoding,
        ),
    }
