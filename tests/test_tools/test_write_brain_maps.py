# Copyright (c) mmbrain contributors. All rights reserved.
"""tools/analysis_tools/write_brain_maps.py refuses per-voxel results of the wrong shape (one line naming the file,
exit 1, no maps written) instead of broadcasting one value to every voxel."""

import numpy as np
import pytest
from _helpers import load_tool

pytestmark = pytest.mark.slow  # the synthetic world is made by a subprocess


@pytest.fixture
def subject(nsd_world):
    from mmbrain.datasets.converted_file import ConvertedSubject

    path = nsd_world.converted_file(nsd_world.subjects[0])
    return path, ConvertedSubject(path).voxel_counts


def _results(counts, **override):
    rng = np.random.default_rng(0)
    out = {}
    for group, n in counts.items():
        out[f'{group}/r'] = rng.uniform(-0.2, 0.6, n)
        out[f'{group}/noise_ceiling'] = rng.uniform(10, 60, n)
        out[f'{group}/algonauts_score'] = override.get('algonauts_score', rng.uniform(0, 100, n))
    return out


def test_an_algonauts_score_of_one_value_is_refused(subject, tmp_path, capsys):
    path, counts = subject
    voxelwise = tmp_path / 'voxelwise.npz'
    np.savez(voxelwise, **_results(counts, algonauts_score=np.array([50.0])))
    out = tmp_path / 'maps'
    assert load_tool('tools/analysis_tools/write_brain_maps.py').main([str(voxelwise), path, '--out', str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'error: {voxelwise}: ') and 'algonauts_score has shape (1,)' in err, err
    assert not out.exists() or not any(out.iterdir())


def test_results_of_the_right_shape_are_written(subject, tmp_path):
    path, counts = subject
    voxelwise = tmp_path / 'voxelwise.npz'
    np.savez(voxelwise, **_results(counts))
    out = tmp_path / 'maps'
    assert load_tool('tools/analysis_tools/write_brain_maps.py').main([str(voxelwise), path, '--out', str(out)]) == 0
    assert (out / 'maps.json').exists()
