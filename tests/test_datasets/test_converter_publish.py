# Copyright (c) mmbrain contributors. All rights reserved.
"""The NSD converter publishes nothing until every subject is converted and verified, publishes each subject's
files together, and fails cleanly (exit 1, one line, the old outputs untouched) on a full disk or ``ulimit -f``."""

import os
import resource
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
from _helpers import REPO, world_args
from _tmpfs import tiny_tmpfs

from mmbrain.datasets.converted_file import ConvertedSubject, ConvertedSubjectWriter, anatomy_path
from mmbrain.datasets.converter import convert_nsd
from mmbrain.datasets.nsd_files import NSDFormatError, NSDOptionError, betas_path
from mmbrain.datasets.synthetic import make_synthetic_nsd

TOOL = os.path.join(REPO, 'tools/dataset_converters/nsd_to_mmbrain.py')
WORLD = world_args(n_subjects=2, n_sessions=2, trials_per_session=60, volume_scale=0.3)


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('publish') / 'nsd')
    make_synthetic_nsd(root, **WORLD)
    return root


@pytest.fixture(scope='module')
def converted(world, tmp_path_factory):
    """A complete conversion of both subjects (subjXX.h5 and subjXX_anatomy.nii.gz)."""
    out = str(tmp_path_factory.mktemp('converted') / 'mmbrain')
    convert_nsd(world, out, progress=False)
    return out


def _listing(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def _cli(world, out, *args, limit=None):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, TOOL, '--nsd-root', world, '--out', str(out), '--quiet', *args],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=set_limit if limit else None,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO),
    )


def test_a_subject_given_twice_is_a_usage_error_before_anything_is_written(world, tmp_path):
    """Before: subject 1 was written, then the second 1 failed on the existing file."""
    with pytest.raises(NSDOptionError, match='subject 1 is given more than once'):
        convert_nsd(world, str(tmp_path / 'out'), subjects=[1, 1], progress=False)
    assert _listing(tmp_path / 'out') == []


def test_nan_betas_in_the_last_subject_publish_no_subject(world, tmp_path):
    """Before: subject 1's files were published, then subject 2's NaN stopped the run."""
    nan_world = tmp_path / 'nsd'
    shutil.copytree(world, nan_world)
    path = betas_path(str(nan_world), 2, 2)
    with h5py.File(path, 'r') as f:
        betas = f['betas'][:].astype(np.float32)
    betas[5] = np.nan  # every voxel of one trial of subject 2's last session
    os.remove(path)
    with h5py.File(path, 'w') as f:
        f.create_dataset('betas', data=betas)
    out = tmp_path / 'out'
    with pytest.raises(NSDFormatError, match=r'subject 2, session 2: .* NaN/inf betas'):
        convert_nsd(str(nan_world), str(out), progress=False)
    assert _listing(out) == []  # not even a temporary file


def test_what_a_kill_between_the_files_leaves_does_not_block_the_rerun(world, converted, tmp_path):
    """A kill after the anatomy but before subj01.h5 is published leaves the anatomy: it is byte-identical to what
    the rerun writes, so the rerun (without --overwrite) succeeds; a different file of that name is still refused."""
    out = tmp_path / 'out'
    out.mkdir()
    shutil.copy(anatomy_path(os.path.join(converted, 'subj01.h5')), out)
    written = convert_nsd(world, str(out), subjects=[1, 2], progress=False)
    assert _listing(out) == ['subj01.h5', 'subj01_anatomy.nii.gz', 'subj02.h5', 'subj02_anatomy.nii.gz']
    assert ConvertedSubject(written[0]).n_rows == ConvertedSubject(os.path.join(converted, 'subj01.h5')).n_rows
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'subj01_anatomy.nii.gz').write_bytes(b'the user own file')
    with pytest.raises(FileExistsError, match='subj01_anatomy.nii.gz: already exists'):
        convert_nsd(world, str(other), subjects=[1], progress=False)
    assert _listing(other) == ['subj01_anatomy.nii.gz']


@pytest.mark.slow
def test_the_writer_reserves_its_space_first(tmp_path):
    """Reserving fails at once when the disk cannot hold the file (nothing half-written for HDF5 to trip over)."""
    with tiny_tmpfs(tmp_path, size='256k') as disk:
        writer = ConvertedSubjectWriter(
            str(disk / 'subj01.h5'), 1, 'func1pt8mm', 'session', False, reserve_bytes=10 << 20
        )
        with pytest.raises(OSError, match=r'subj01.h5: cannot write the output \(No space left on device\)'):
            writer.__enter__()
        assert _listing(disk) == []


@pytest.mark.slow
def test_a_full_disk_during_overwrite_is_exit_1_not_a_crash(world, converted, tmp_path):
    """Before: with a few kB free, HDF5 failed mid-file and h5py crashed closing it (exit -11 / 139), leaving a
    temporary file behind."""
    files = {name: os.path.getsize(os.path.join(converted, name)) for name in os.listdir(converted)}
    for extra_kb in (4, 64):
        used_kb = sum(4 * -(-size // 4096) for size in files.values())  # tmpfs pages of 4 kB
        with tiny_tmpfs(tmp_path, size=f'{used_kb + extra_kb}k') as disk:
            out = disk / 'mmbrain'
            shutil.copytree(converted, out)
            result = _cli(world, out, '--overwrite', '--subjects', '1')
            assert result.returncode == 1, result.stderr[-2000:]
            assert result.stderr.strip().startswith(f'error: {out}/subj0')
            assert result.stderr.strip().endswith('cannot write the output (No space left on device)')
            assert _listing(out) == sorted(files)  # the old outputs, no temporary file
            for name, size in files.items():
                assert os.path.getsize(out / name) == size
        os.rmdir(tmp_path / 'tiny_tmpfs')


@pytest.mark.slow
def test_ulimit_f_replaces_none_of_the_old_outputs(world, converted, tmp_path):
    """Before: the small anatomy was replaced, then subj01.h5 failed on the file-size limit."""
    out = tmp_path / 'mmbrain'
    shutil.copytree(converted, out)
    inodes = {name: os.stat(out / name).st_ino for name in os.listdir(out)}
    limit = os.path.getsize(out / 'subj01.h5') - 4096  # the anatomy fits, the converted file does not
    result = _cli(world, out, '--overwrite', limit=limit)
    assert result.returncode == 1, result.stderr[-2000:]
    assert 'subj01.h5: cannot write the output (File too large' in result.stderr
    assert {name: os.stat(out / name).st_ino for name in os.listdir(out)} == inodes
