# Copyright (c) mmbrain contributors. All rights reserved.
"""``--coordinates mni``: voxel coordinates of every subject in one frame (MNI152 mm), through the transform files
NSD ships (nsdcode's ``transforms/MNI-to-func1pt8.nii.gz``), written here in NSD's layout for the synthetic world."""

import os

import nibabel as nib
import numpy as np
import pytest

from mmbrain.datasets.converted_file import ConvertedSubject
from mmbrain.datasets.converter import convert_nsd
from mmbrain.datasets.nsd_files import (
    MNI_VOXEL_TO_MM,
    TRANSFORM_INVALID,
    NSDFormatError,
    NSDOptionError,
    mni_transform_path,
    roi_path,
)
from mmbrain.datasets.synthetic import make_synthetic_nsd

GROUP = 'floc-faces'
#: Where every subject's floc-faces centroid lies in MNI152 mm in the transforms written below.
TARGET_MM = np.array([40.0, -55.0, -12.0])


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('mni') / 'nsd')
    make_synthetic_nsd(
        root, n_subjects=2, n_sessions=1, trials_per_session=30, image_size=16, volume_scale=0.2, n_coco_extra=0,
        n_ade=0, progress=False,
    )  # fmt: skip
    return root


def _write_transform(root, subject, invalid_at=None):
    """NSD's layout: on the subject's func grid (X, Y, Z, 3), the 1-based MNI voxel coordinates of each voxel, an
    affine map per subject chosen so that the subject's floc-faces centroid lands on TARGET_MM.

    Returns:
        (4, 4) voxel (i, j, k, 1) -> 1-based MNI voxel coordinates.
    """
    roi = nib.load(roi_path(root, subject, GROUP))
    labels = np.asarray(roi.dataobj)
    centroid = np.argwhere(labels > 0).mean(0)
    scale = np.abs(np.diag(roi.affine)[:3])  # func voxel size in mm = MNI voxels (1 mm)
    to_mni = np.diag([*(scale * [-1, 1, 1]), 1.0])  # the MNI grid's first axis runs right to left
    target = np.linalg.solve(MNI_VOXEL_TO_MM, [*TARGET_MM, 1])[:3]
    to_mni[:3, 3] = target - to_mni[:3, :3] @ centroid
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in labels.shape], indexing='ij'), -1).astype(np.float64)
    coords = (ijk @ to_mni[:3, :3].T + to_mni[:3, 3]).astype(np.float32)
    if invalid_at is not None:
        coords[invalid_at] = TRANSFORM_INVALID
    path = mni_transform_path(root, subject)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    nib.save(nib.Nifti1Image(coords, roi.affine), path)
    return to_mni


def test_mni_coordinates_put_every_subject_in_one_frame(world, tmp_path):
    transforms = {s: _write_transform(world, s) for s in (1, 2)}
    native = [ConvertedSubject(p) for p in convert_nsd(world, str(tmp_path / 'native'), progress=False)]
    mni = [ConvertedSubject(p) for p in convert_nsd(world, str(tmp_path / 'mni'), coordinates='mni', progress=False)]
    assert [s.coordinate_space for s in native] == ['native', 'native']
    assert [s.coordinate_space for s in mni] == ['MNI152', 'MNI152']
    for s in mni:  # every voxel where NSD's transform puts it, through nsdcode's MNI voxel -> mm convention
        for g in s.groups:
            ijk1 = np.c_[s.ijk(g), np.ones(len(s.ijk(g)))]
            expected = (MNI_VOXEL_TO_MM @ transforms[s.subject] @ ijk1.T).T[:, :3]
            np.testing.assert_allclose(s.xyz(g), expected, atol=1e-3)
    np.testing.assert_allclose([s.xyz(GROUP).mean(0) for s in mni], [TARGET_MM, TARGET_MM], atol=1e-3)
    native_centroids = [s.xyz(GROUP).mean(0) for s in native]
    assert np.linalg.norm(native_centroids[0] - native_centroids[1]) > 1  # native mm: not one frame
    np.testing.assert_array_equal(mni[0].betas(GROUP), native[0].betas(GROUP))  # only the coordinates differ


def test_a_voxel_without_mni_position_or_a_missing_transform_is_named(world, tmp_path):
    labels = np.asarray(nib.load(roi_path(world, 1, GROUP)).dataobj)
    first = tuple(int(c) for c in np.argwhere(labels > 0)[0])
    _write_transform(world, 1, invalid_at=first)
    out = tmp_path / 'out'
    with pytest.raises(
        NSDFormatError, match=rf'MNI-to-func1pt8.nii.gz: no MNI position .* at \(i, j, k\) = \({first[0]}, '
    ):
        convert_nsd(world, str(out), subjects=[1], coordinates='mni', progress=False)
    os.remove(mni_transform_path(world, 1))
    with pytest.raises(NSDFormatError, match='transforms/MNI-to-func1pt8.nii.gz: file not found'):
        convert_nsd(world, str(out), subjects=[1], coordinates='mni', progress=False)
    with pytest.raises(NSDOptionError, match='--coordinates mni is for volume spaces'):
        convert_nsd(world, str(out), space='fsaverage', coordinates='mni', progress=False)
    assert not out.exists()
