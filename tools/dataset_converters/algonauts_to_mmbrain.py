# Copyright (c) mmbrain contributors. All rights reserved.
"""Convert the Algonauts 2023 challenge data (NSD on fsaverage) into mmbrain's per-subject files (OUT/subjXX.h5).

    python tools/dataset_converters/algonauts_to_mmbrain.py --root data/algonauts_2023_challenge_data \
        --out data/algonauts/mmbrain --fsaverage $FREESURFER_HOME/subjects/fsaverage \
        --stim-info data/nsd/nsddata/experiments/nsd/nsd_stim_info_merged.csv

Without --fsaverage the files hold no vertex coordinates (a warning says so). See docs/data.md.
"""

import argparse
import sys

from mmbrain.datasets.algonauts import convert_algonauts
from mmbrain.datasets.nsd_files import NSDFormatError


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--root', required=True, help='challenge data folder holding subjXX/')
    p.add_argument('--out', required=True, help='output folder for subjXX.h5')
    p.add_argument('--subjects', type=int, nargs='+', default=None, help='1-based subjects (default: all found)')
    p.add_argument('--fsaverage', default=None, help='FreeSurfer fsaverage folder (surf/lh.white, ...)')
    p.add_argument('--surface', default='white', help='surface giving vertex coordinates (default white)')
    p.add_argument('--stim-info', default=None, help='nsd_stim_info_merged.csv, for the shared1000 flags')
    p.add_argument('--overwrite', action='store_true', help='replace existing subjXX.h5 files')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        written = convert_algonauts(
            args.root,
            args.out,
            subjects=args.subjects,
            fsaverage=args.fsaverage,
            surface=args.surface,
            stim_info=args.stim_info,
            overwrite=args.overwrite,
        )
    except (NSDFormatError, FileExistsError, OSError) as exc:  # bad input, an existing or unwritable output
        print(f'error: {exc}', file=sys.stderr)
        return 1
    for path in written:
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
