# Copyright (c) mmbrain contributors. All rights reserved.
"""The whole Brainformer method in one command: data -> pretraining -> backbone -> downstream tasks -> report.

    python tools/run_pipeline.py                      # the synthetic NSD world, 2-core-CPU scale (~20 min)
    python tools/run_pipeline.py --redo pretrain_brainformer   # run one stage (and every later one) again
    python tools/run_pipeline.py --redo all           # everything again
    python tools/run_pipeline.py --nsd-root data/nsd --gpus 8     # the paper's configs on the real NSD

Stages (each is the command a user would type; see ``mmbrain/pipeline/plan.py``): generate the synthetic world,
convert it with the real NSD converter, pretrain Brainformer and two Table 3 ablations (retrieval validated every
epoch), extract the backbones, fine-tune Mask R-CNN (with mmdet's own tools/train.py), UperNet (mmseg's own) and the
voxel readout (ours) from each backbone and from random init, then write ``work_dirs/demo/report.md`` with its
figures. A finished stage is reused by later runs; an interrupted one leaves only a ``.partial`` folder, which the
next run deletes. For the real NSD and the paper's configs, README.md ("Reproducing the paper") lists the commands.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from mmbrain.pipeline import (  # noqa: E402
    StageRunner,
    build_stages,
    collect_results,
    final_checkpoint,
    nsd_plan,
    synthetic_plan,
    write_figures,
    write_report,
)
from mmbrain.pipeline.plan import python_command, slug  # noqa: E402
from mmbrain.pipeline.stages import run_command  # noqa: E402

READING_NOTES = [
    '## Reading this report', '',
    '- Scale: every run here is cut to fit about 20 minutes on a 2-core CPU (configs/demo/); the differences '
    'between rows are those of a few hundred iterations on a small synthetic world, not the paper\'s claim. '
    'Longer runs of the same configs (configs/*/*synthetic*) and the paper-scale configs are listed in README.md.',
    '- The Brain fMRI Guidance Loss (Eq. 6) contrasts each image ROI feature with the same sample\'s other ROI '
    'features only, so ROI identity alone can satisfy it: its curve drops to about zero within the first tens of '
    'iterations, faithfully to the equation as printed.',
    '- Brain response prediction fits a linear readout on the frozen backbone (random init: random features); '
    'the noise ceiling line is the square root of the noise ceiling estimated from the repetitions (ncsnr).',
    '',
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default='work_dirs/demo', help='runs, figures and the report')
    parser.add_argument('--report', help='report path (default: WORK_DIR/report.md)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the world and of every training run')
    parser.add_argument('--nsd-root', help='run the paper\'s configs on the real NSD in this folder (native layout, '
                        'docs/data.md) instead of the synthetic world')
    parser.add_argument('--gpus', type=int, default=8, help='with --nsd-root: GPUs per training command')
    parser.add_argument('--backbone', choices=['convnext-s', 'swin-s'], default='convnext-s',
                        help='with --nsd-root: the image backbone')
    parser.add_argument('--redo', nargs='+', default=[], metavar='STAGE',
                        help='stages to run again even if finished (and all later ones); "all" for everything')
    parser.add_argument('--list', action='store_true', help='list the stages and whether they are done, then exit')
    return parser.parse_args()


def gradcam_figure(plan, out_file: str) -> None:
    """Fig. 6: Grad-CAM rows for random init, the no-guidance-loss ablation and Brainformer."""
    cmd = python_command(osp.join(REPO_ROOT, 'tools/analysis_tools/visualize_gradcam.py'),
                  '--model', 'random init', plan.pretrain_config)
    for label, config in plan.ablations.items():
        if 'guidance' in label:
            cmd += ['--model', label, config, final_checkpoint(osp.join(plan.work_dir, 'pretrain_' + slug(label)))]
    cmd += ['--model', 'Brainformer', plan.pretrain_config,
            final_checkpoint(osp.join(plan.work_dir, 'pretrain_brainformer')), '--num-images', '6',
            '--target-layer', 'backbone.stages.2', '--out', out_file]
    run_command(cmd, osp.splitext(out_file)[0] + '.log')


def main() -> None:
    args = parse_args()
    os.chdir(REPO_ROOT)
    if args.nsd_root:
        work_dir = args.work_dir if args.work_dir != 'work_dirs/demo' else 'work_dirs/nsd'
        plan = nsd_plan(args.nsd_root, args.gpus, args.backbone, work_dir, seed=args.seed, report=args.report)
    else:
        plan = synthetic_plan(args.work_dir, seed=args.seed, report=args.report)
    stages = build_stages(plan)
    runner = StageRunner(plan.work_dir, redo=args.redo)
    if args.list:
        for stage in stages:
            record = runner.record(runner.output_dir(stage))
            done = record is not None and record.get('description') == stage.description
            print(f'{"done   " if done else "pending"}  {stage.name:32s} {stage.description}')
        return
    start = time.perf_counter()
    try:
        runner.run(stages)
    except subprocess.CalledProcessError as err:
        sys.exit(f'run_pipeline: a stage failed: {" ".join(map(str, err.cmd))}\n({err.output})')

    print('[report] collecting results and drawing figures')
    fig_dir = osp.join(plan.work_dir, 'figures')
    results = collect_results(plan, runner.timings)
    figures = write_figures(results, fig_dir)
    figures['Grad-CAM (paper Fig. 6)'] = osp.join(fig_dir, 'gradcam.png')
    gradcam_figure(plan, figures['Grad-CAM (paper Fig. 6)'])
    write_report(results, figures, plan.report_file, extra_sections=READING_NOTES)
    print(f'[report] {plan.report_file} (this run: {time.perf_counter() - start:.0f} s; '
          f'all stages: {sum(runner.timings.values()):.0f} s)')


if __name__ == '__main__':
    main()
