# Copyright (c) mmbrain contributors. All rights reserved.
"""Convert the Natural Scenes Dataset's native files into mmbrain's per-subject files (OUT/subjXX.h5).

    python tools/dataset_converters/nsd_to_mmbrain.py --nsd-root data/nsd --out data/nsd/mmbrain
    python tools/dataset_converters/nsd_to_mmbrain.py --nsd-root data/nsd --out data/nsd/mmbrain_avg \
        --subjects 1 2 5 7 --average-repeats --betas-version b2 --rois nsdgeneral
    python tools/dataset_converters/nsd_to_mmbrain.py --nsd-root data/nsd --out data/nsd/mmbrain_fsavg \
        --space fsaverage --rois nsdgeneral streams

Reads nsddata_betas/ppdata/subjXX/<space>/<betas version>/betas_sessionNN.hdf5 (fsaverage: lh./rh.betas_sessionNN.mgh)
and, when present, ncsnr.nii.gz (lh./rh.ncsnr.mgh) beside them; the ROI files nsddata/ppdata/subjXX/<space>/roi/
<name>.nii.gz (fsaverage: nsddata/freesurfer/fsaverage/label/lh./rh.<name>.mgz) with their <name>.mgz.ctab label
names; nsddata/experiments/nsd/nsd_expdesign.mat. See docs/data.md for the exact files of each option.
Exit status: 0 done, 1 bad or missing input data, 2 invalid options.
"""

import argparse
import sys

# Light imports (numpy only): --help stays free of torch and the OpenMMLab stack.
from mmbrain.datasets.converter import COORDINATE_FRAMES, NAN_POLICIES, NCSNR_MODES
from mmbrain.datasets.nsd_files import BETAS_VERSIONS, ROI_GROUPS, SPACES


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--nsd-root', required=True, help='folder holding nsddata/ and nsddata_betas/')
    p.add_argument('--out', required=True, help='output folder for subjXX.h5')
    p.add_argument(
        '--subjects', type=int, nargs='+', default=None, help='1-based subjects (default: every subject with betas)'
    )
    sessions = p.add_mutually_exclusive_group()
    sessions.add_argument(
        '--sessions',
        type=int,
        default=None,
        help='use sessions 1..N (default: all sessions; a missing session file is an error)',
    )
    sessions.add_argument(
        '--session-list',
        type=int,
        nargs='+',
        default=None,
        metavar='S',
        help='use exactly these sessions (e.g. 1 3 to skip a session on purpose)',
    )
    p.add_argument(
        '--space',
        default='func1pt8mm',
        choices=SPACES,
        help="volume grid, or NSD's fsaverage surface betas (default func1pt8mm)",
    )
    p.add_argument(
        '--betas-version',
        default='b3',
        choices=(*BETAS_VERSIONS, *BETAS_VERSIONS.values()),
        help='NSD GLM: ' + ', '.join(f'{k} {v}' for k, v in BETAS_VERSIONS.items()) + ' (default b3)',
    )
    p.add_argument(
        '--rois',
        nargs='+',
        default=list(ROI_GROUPS),
        metavar='NAME',
        help='ROI files to convert, one group each: nsdgeneral, streams, Kastner2015, ... '
        f'(default: the six groups {" ".join(ROI_GROUPS)})',
    )
    p.add_argument(
        '--ncsnr',
        default='auto',
        choices=NCSNR_MODES,
        help="noise-ceiling SNR: NSD's ncsnr file when present (auto, default), required (nsd), or "
        'estimated from the converted repetitions (estimate)',
    )
    p.add_argument(
        '--nan-policy',
        default='error',
        choices=NAN_POLICIES,
        help='NaN/inf betas: stop with an error (default) or leave out the voxels that have any',
    )
    p.add_argument(
        '--surface',
        default='white',
        help='fsaverage surface giving vertex coordinates (nsddata/freesurfer/fsaverage/surf/lh.<surface>)',
    )
    p.add_argument(
        '--surface-roi-dir',
        default=None,
        metavar='DIR',
        help='fsaverage: subject-specific ROI files DIR/lh.<roi>.mgz, rh.<roi>.mgz (+ <roi>.mgz.ctab) '
        'instead of nsddata/freesurfer/fsaverage/label; "{subject}" in DIR is replaced by the subject '
        '(e.g. rois/subj{subject:02d})',
    )
    p.add_argument(
        '--coordinates',
        default='native',
        choices=COORDINATE_FRAMES,
        help="volume spaces: voxel coordinates (rois/G/xyz) in each subject's own scanner mm (native, default) or "
        "in MNI152 mm through NSD's nsddata/ppdata/subjXX/transforms/MNI-to-func1pt8.nii.gz (mni: one frame for "
        'all subjects, see docs/data.md)',
    )
    p.add_argument('--no-zscore', action='store_true', help='keep percent signal change (no per-session z-score)')
    p.add_argument('--average-repeats', action='store_true', help='one row per image: mean of its repetitions')
    p.add_argument('--overwrite', action='store_true', help='replace existing subjXX.h5 files')
    p.add_argument('--quiet', action='store_true', help='no progress bars, no data-quality warnings (errors only)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmbrain.datasets.converter import convert_nsd
    from mmbrain.datasets.nsd_files import NSDFormatError, NSDOptionError
    from mmbrain.utils.logging import set_quiet

    set_quiet(args.quiet)
    try:
        written = convert_nsd(
            args.nsd_root,
            args.out,
            subjects=args.subjects,
            n_sessions=args.sessions,
            sessions=args.session_list,
            space=args.space,
            zscore=not args.no_zscore,
            average_repeats=args.average_repeats,
            overwrite=args.overwrite,
            progress=not args.quiet,
            betas_version=args.betas_version,
            rois=args.rois,
            ncsnr=args.ncsnr,
            nan_policy=args.nan_policy,
            surface=args.surface,
            surface_roi_dir=args.surface_roi_dir,
            coordinates=args.coordinates,
        )
    except NSDOptionError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    except (NSDFormatError, FileExistsError, OSError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    for path in written:
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
