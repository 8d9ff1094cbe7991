# Copyright (c) mmbrain contributors. All rights reserved.
"""Generate a synthetic NSD world in NSD's native layout (plus COCO / ADE versions and its ground truth).

    python tools/dataset_converters/make_synthetic_nsd.py --out data/synthetic_nsd
    python tools/dataset_converters/nsd_to_mmbrain.py --nsd-root data/synthetic_nsd --out data/synthetic_nsd/mmbrain

Knobs for worlds where Brainformer's claim can fail (docs/synthetic_world.md states the generative model):

    --snr 0                  the null world: responses carry no information about the image
    --snr 0.25 ...           weaker brain signal (a dose-response sweep)
    --ceilings nsd           NSD-like noise ceilings instead of the default high ones
    --colour 0.5 --drift 1 --arousal 1
                             nuisance signals that drive voxels but no downstream task asks about
    --captions objects,colours,brightness
                             what the COCO captions (the CLIP baseline's text) describe

See docs/data.md and mmbrain/datasets/synthetic/world.py.
"""

import argparse
import sys

from mmbrain.datasets.synthetic.captions import DEFAULT_DETAILS, DETAILS, check_details
from mmbrain.datasets.synthetic.encoding import CEILINGS


def _details(text: str):
    details = tuple(d.strip() for d in text.split(',') if d.strip())
    try:
        check_details(details)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return details


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='root of the world (NSD layout inside)')
    p.add_argument('--subjects', type=int, default=8, help='number of subjects (default 8)')
    p.add_argument('--sessions', type=int, default=3, help='sessions per subject (default 3)')
    p.add_argument(
        '--images',
        type=int,
        default=None,
        help='images per subject (default sessions * trials-per-session / 3: 3 repetitions each)',
    )
    p.add_argument('--shared', type=int, default=None, help='images shown to every subject (default images / 5)')
    p.add_argument('--image-size', type=int, default=64, help='stimulus side in pixels (default 64)')
    p.add_argument('--trials-per-session', type=int, default=750, help="trials per session (NSD's 750)")
    p.add_argument(
        '--volume-scale', type=float, default=0.25, help="grid size relative to NSD's func1pt8mm grids (default 0.25)"
    )
    p.add_argument(
        '--snr',
        type=float,
        default=1.0,
        help="strength of the brain signal: multiplies every voxel's noise-ceiling SNR (default 1; 0: responses "
        'independent of the image, the null world)',
    )
    p.add_argument(
        '--ceilings',
        choices=sorted(CEILINGS),
        default='synthetic',
        help='voxel SNRs before --snr: "synthetic" (default; 3-trial noise ceilings ~75%% in V1-V3) or "nsd" '
        '(NSD-like: ~43%% in V1-V3, ~11%% elsewhere in nsdgeneral, widely spread)',
    )
    p.add_argument(
        '--colour',
        type=float,
        default=0.0,
        help="share in [0, 1) of each voxel's image-driven variance given to the image's global colour (mean RGB), "
        'a nuisance no downstream task asks about (default 0)',
    )
    p.add_argument(
        '--drift',
        type=float,
        default=0.0,
        help='slow within-session drift of every voxel, in noise standard deviations (default 0; image-independent)',
    )
    p.add_argument(
        '--arousal',
        type=float,
        default=0.0,
        help='trial-wise arousal term shared by all brain voxels, in noise standard deviations (default 0)',
    )
    p.add_argument(
        '--captions',
        type=_details,
        default=','.join(DEFAULT_DETAILS),
        help=f'what the COCO captions describe, comma-separated from {",".join(DETAILS)} '
        f'(default {",".join(DEFAULT_DETAILS)})',
    )
    p.add_argument('--coco-extra', type=int, default=1000, help='COCO images that are not NSD stimuli')
    p.add_argument('--ade', type=int, default=1000, help='ADE-style images (80%% training)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument(
        '--nsd-extras',
        action='store_true',
        help="also write NSD's b1/b2 betas, ncsnr.nii.gz, meanbeta, the T1 and fsaverage surface betas",
    )
    p.add_argument('--overwrite', action='store_true', help='replace an existing --out folder')
    p.add_argument('--quiet', action='store_true', help='no progress bars, errors only')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmbrain.datasets.synthetic import make_synthetic_nsd
    from mmbrain.utils.logging import set_quiet

    set_quiet(args.quiet)
    try:
        world = make_synthetic_nsd(
            args.out,
            n_subjects=args.subjects,
            n_sessions=args.sessions,
            n_images=args.images,
            image_size=args.image_size,
            seed=args.seed,
            trials_per_session=args.trials_per_session,
            n_shared=args.shared,
            volume_scale=args.volume_scale,
            snr=args.snr,
            n_coco_extra=args.coco_extra,
            n_ade=args.ade,
            overwrite=args.overwrite,
            progress=not args.quiet,
            nsd_extras=args.nsd_extras,
            ceilings=args.ceilings,
            colour=args.colour,
            drift=args.drift,
            arousal=args.arousal,
            captions=args.captions,
        )
    except ValueError as exc:  # parameters that make no world
        print(f'error: {exc}', file=sys.stderr)
        return 2
    except (FileExistsError, OSError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(
        f'wrote {args.out}: {world["n_subjects"]} subjects x {world["n_sessions"]} sessions, '
        f'{world["n_stimuli"]} stimuli ({world["n_shared"]} shared), COCO {world["coco"]["n_train"]}/'
        f'{world["coco"]["n_val"]} train/val, ADE {world["ade"]["n_training"]}/{world["ade"]["n_validation"]}'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
