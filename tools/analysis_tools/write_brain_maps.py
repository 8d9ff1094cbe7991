# Copyright (c) mmbrain contributors. All rights reserved.
"""Write an encoding run's per-voxel results as brain data, and optionally draw them.

    python tools/analysis_tools/write_brain_maps.py work_dirs/encoding/voxelwise.npz data/nsd/mmbrain/subj08.h5 \\
        --out work_dirs/encoding/brain_maps --png work_dirs/encoding/brain_map.png

VOXELWISE is the .npz of BrainEncodingMetric(voxelwise_file=...) (e.g. tools/test.py with
--cfg-options test_evaluator.voxelwise_file=...), SUBJECT the evaluated subject's converted file (schema version 2).
Writes r.nii.gz, noise_ceiling.nii.gz and algonauts_score.nii.gz on the subject's NSD grid (fsaverage:
lh./rh.<map>.mgh overlays) and maps.json into --out; --png draws --map with nilearn over the subject's anatomy (the
hand-made projections without nilearn). See docs/data.md. Exit 1: data or runtime error; 2: usage error.
"""

import argparse
import sys


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('voxelwise', help='per-voxel results (.npz of BrainEncodingMetric(voxelwise_file=...))')
    parser.add_argument('subject', help="the evaluated subject's converted subjXX.h5 (schema version 2)")
    parser.add_argument('--out', required=True, help='folder of the maps')
    parser.add_argument('--per-group', action='store_true', help='also one map per ROI group')
    parser.add_argument('--png', help='also draw a figure of --map there')
    parser.add_argument(
        '--map', default='r', choices=('r', 'noise_ceiling', 'algonauts_score'), help='map drawn with --png (default r)'
    )
    parser.add_argument('--label', default='model', help='row label of the figure')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmbrain.datasets.converted_file import ConvertedFormatError
    from mmbrain.evaluation.brain_maps import write_brain_maps

    try:
        index = write_brain_maps(args.voxelwise, args.subject, args.out, per_group=args.per_group)
        if args.png:
            from mmbrain.visualization import plot_result_maps

            plot_result_maps(
                {args.label: index}, args.png, key=args.map, title=f'{args.map}, {args.label}', value_label=args.map
            )
    except (ConvertedFormatError, OSError, KeyError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    for key, path in index['maps'].items():
        print(f'{key}: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
