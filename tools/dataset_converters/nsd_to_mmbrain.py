# Copyright (c) mmbrain contributors. All rights reserved.
"""Convert the Natural Scenes Dataset's native files into mmbrain's per-subject files (OUT/subjXX.h5).

    python tools/dataset_converters/nsd_to_mmbrain.py --nsd-root data/nsd --out data/nsd/mmbrain
    python tools/dataset_converters/nsd_to_mmbrain.py --nsd-root data/nsd --out data/nsd/mmbrain_avg \
        --subjects 1 2 5 7 --average-repeats

Reads nsddata_betas/ppdata/subjXX/<space>/betas_fithrf_GLMdenoise_RR/betas_sessionNN.hdf5, the six ROI groups'
nsddata/ppdata/subjXX/<space>/roi/*.nii.gz with their freesurfer/subjXX/label/*.mgz.ctab names, and
nsddata/experiments/nsd/nsd_expdesign.mat. See docs/data.md for the files to download and the output schema.
"""
import argparse
import sys

from mmbrain.datasets.converter import convert_nsd
from mmbrain.datasets.nsd_files import SPACES, NSDFormatError


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--nsd-root', required=True, help='folder holding nsddata/ and nsddata_betas/')
    p.add_argument('--out', required=True, help='output folder for subjXX.h5')
    p.add_argument('--subjects', type=int, nargs='+', default=None,
                   help='1-based subjects (default: every subject with betas)')
    p.add_argument('--sessions', type=int, default=None,
                   help='use sessions 1..N (default: all consecutive sessions found)')
    p.add_argument('--space', default='func1pt8mm', choices=SPACES)
    p.add_argument('--no-zscore', action='store_true', help='keep percent signal change (no per-session z-score)')
    p.add_argument('--average-repeats', action='store_true', help='one row per image: mean of its repetitions')
    p.add_argument('--overwrite', action='store_true', help='replace existing subjXX.h5 files')
    p.add_argument('--quiet', action='store_true', help='no progress bars')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        written = convert_nsd(args.nsd_root, args.out, subjects=args.subjects, n_sessions=args.sessions,
                              space=args.space, zscore=not args.no_zscore, average_repeats=args.average_repeats,
                              overwrite=args.overwrite, progress=not args.quiet)
    except (NSDFormatError, FileExistsError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    for path in written:
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
