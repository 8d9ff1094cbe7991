# Copyright (c) mmbrain contributors. All rights reserved.
"""The whole Brainformer method in one command: data -> pretraining -> backbones -> downstream tasks -> report.

    python tools/run_pipeline.py                         # the synthetic NSD world, 2-core-CPU scale, one seed
    python tools/run_pipeline.py --seeds 0 1 2           # the seeds study: mean ± sd and paired differences
    python tools/run_pipeline.py --list                  # the stages, and whether each would be reused
    python tools/run_pipeline.py --jobs 1                # one stage at a time (default: one per CPU core, up to 4)
    python tools/run_pipeline.py --redo pretrain_clip    # run a stage again (for every seed), and what reads it
    python tools/run_pipeline.py --world-args '--snr 0' --work-dir work_dirs/null-world   # the null world
    python tools/run_pipeline.py --nsd-root data/nsd --gpus 8   # the paper's configs on the real NSD

Stages (docs/pipeline.md): generate and convert the synthetic world; per seed, pretrain Brainformer, the
shuffled-pairing control, CLIP and the ablations, extract their backbones, fine-tune Mask R-CNN (mmdet's own
tools/train.py), UperNet (mmseg's own) and the voxel readouts (ours; test split scored once with tools/test.py) from
each backbone and from random init, fit the ridge baseline on every frozen backbone; draw the Grad-CAM figure; then
write WORK_DIR/report.md. On the real NSD, COCO, ADE20K and the caption files are checked before any stage runs.

A stage is reused only if its commands, its resolved config, its seed and the runs of the stages it reads are
unchanged; a change reruns that stage and what depends on it. Relative paths resolve against the current folder
(data/ and work_dirs/ as in OpenMMLab). Exit status: 1 when a stage fails or data is missing, 2 for usage errors.
"""

import argparse
import os.path as osp
import shlex
import sys
import time

#: The default --jobs on the synthetic world is the number of CPU cores, at most this: the CPU-scale trainings are
#: bound by per-operation overhead, so two one-thread stages on two cores finish sooner than one two-thread stage.
MAX_DEFAULT_JOBS = 4


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        '--work-dir',
        help='runs, figures and the report (default: work_dirs/demo, with --nsd-root '
        'work_dirs/nsd); relative to the current folder',
    )
    parser.add_argument(
        '--report', help='report path (default: WORK_DIR/report.md); its figures go to figures/ beside it'
    )
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument(
        '--seeds',
        type=int,
        nargs='+',
        metavar='N',
        help='training seeds; each seed runs every training stage in WORK_DIR/seedN (default: 0)',
    )
    seeds.add_argument('--seed', type=int, metavar='N', help='one seed (same as --seeds N)')
    parser.add_argument(
        '--table3',
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also pretrain the Table 3 ablations (a learned positional embedding; Algorithm 1's printed window "
        'count) and run the encoding tasks from them (default on the synthetic world: on with several seeds, off for '
        'one; with --nsd-root: off, on asks for the paper-scale ablation configs)',
    )
    parser.add_argument(
        '--guidance-ablations',
        action=argparse.BooleanOptionalAction,
        default=None,
        help='pretrain the guidance ablations (w/o the guidance loss at λ_con 0.5 and at 1.0, Eq. 6 as printed) and '
        'run the encoding tasks and the Grad-CAM rows from them (default: on with several seeds, off for one, '
        'so that the one-seed demo fits its 30-minute budget; with --nsd-root: off)',
    )
    from mmbrain.pipeline.plan import ABLATIONS

    parser.add_argument(
        '--ablations',
        nargs='+',
        choices=[key for _, key in ABLATIONS],
        metavar='KEY',
        help='pretrain exactly these ablations instead of what --guidance-ablations and --table3 choose (any of: '
        f'{", ".join(key for _, key in ABLATIONS)}), e.g. to fit a study into its time',
    )
    parser.add_argument(
        '--tasks',
        nargs='+',
        metavar='TASK',
        help='run only these downstream tasks, named as in the --list stage names (det, seg, encoding, and on the '
        'synthetic world encoding-spatial; default all; the plan refuses a name it has not), e.g. to fit a study '
        'into its time',
    )
    parser.add_argument('--world-seed', type=int, default=0, help='seed of the synthetic world (shared by all seeds)')
    parser.add_argument(
        '--world-args',
        default='',
        metavar='ARGS',
        help='more tools/dataset_converters/make_synthetic_nsd.py options, one quoted string (e.g. --world-args '
        "'--snr 0': the null world, whose responses carry no image information); part of the world stage's identity. "
        'One world at a time lives in data/synthetic_nsd: give such a run its own --work-dir',
    )
    parser.add_argument(
        '--nsd-root',
        help="run the paper's configs on the real NSD in this folder (native layout, "
        'docs/data.md) instead of the synthetic world',
    )
    parser.add_argument(
        '--converted-root',
        help='with --nsd-root: where the convert stage writes the converted files (default WORK_DIR/converted; '
        'nothing is written into the NSD folder, so a read-only NSD copy works)',
    )
    parser.add_argument(
        '--converted',
        metavar='DIR',
        help='with --nsd-root: a conversion made beforehand (subjXX.h5 from nsd_to_mmbrain.py), read as is instead '
        'of a convert stage; checked with the converted-file reader before any stage runs',
    )
    parser.add_argument(
        '--convert-args',
        default='',
        metavar='ARGS',
        help="with --nsd-root: more nsd_to_mmbrain.py options, one quoted string (e.g. '--betas-version b2 "
        "--space fsaverage --rois nsdgeneral'); part of the convert stage's identity",
    )
    parser.add_argument(
        '--gpus',
        type=int,
        default=8,
        help='with --nsd-root: GPUs per training command (pretraining, Mask R-CNN, UperNet; the 1xb64 encoding '
        'readout runs on one GPU, as its config is tuned)',
    )
    parser.add_argument(
        '--node-gpus',
        type=int,
        metavar='G',
        help='with --nsd-root: GPUs of this node shared by the stages running at once (default: --gpus); each '
        'running stage gets its own CUDA_VISIBLE_DEVICES set, so --node-gpus 8 --gpus 4 --jobs 2 runs two 4-GPU '
        'trainings side by side',
    )
    parser.add_argument(
        '--backbone', choices=['convnext-s', 'swin-s'], default='convnext-s', help='with --nsd-root: the image backbone'
    )
    parser.add_argument(
        '--redo',
        nargs='+',
        default=[],
        metavar='STAGE',
        help='stages to run again even if unchanged (and every stage that reads them): a name from '
        '--list, its part after "seedN/" for every seed, or "all"',
    )
    parser.add_argument(
        '--jobs',
        type=int,
        metavar='N',
        help='stages run at once, each as soon as what it reads is finished (default: on the synthetic world '
        f'the CPU cores up to {MAX_DEFAULT_JOBS}, each child with OMP_NUM_THREADS = cores / jobs; with --nsd-root 1, '
        'every training using all --gpus)',
    )
    parser.add_argument('--list', action='store_true', help='list the stages and what a run would do, then exit')
    from mmbrain.pipeline.slurm import add_executor_arguments

    add_executor_arguments(parser)  # --executor slurm and its options (partition, time limits, GPUs, ...)
    args = parser.parse_args(argv)
    args.seeds = args.seeds or [0 if args.seed is None else args.seed]
    if args.ablations is not None and (args.table3 is not None or args.guidance_ablations is not None):
        parser.error('--ablations chooses the ablations one by one: give it or --table3 / --guidance-ablations')
    try:
        args.world_args, args.convert_args = shlex.split(args.world_args), shlex.split(args.convert_args)
    except ValueError as err:
        parser.error(f'--world-args / --convert-args: {err}')
    if not args.nsd_root:
        given = [o for o in ('converted_root', 'converted') if getattr(args, o)] + (
            ['convert_args'] if args.convert_args else []
        )
        if given:
            parser.error(
                f'--{given[0].replace("_", "-")} needs --nsd-root (the synthetic world is converted as it is made)'
            )
    elif args.world_args:
        parser.error('--world-args is for the synthetic world, not --nsd-root')
    if args.converted and args.converted_root:
        parser.error('--converted (a conversion made beforehand) and --converted-root exclude each other')
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds: each seed once, got {args.seeds}')
    if args.gpus < 1:
        parser.error('--gpus must be at least 1')
    if args.node_gpus is not None and args.node_gpus < args.gpus:
        parser.error(f'--node-gpus {args.node_gpus} is fewer than the --gpus {args.gpus} each training needs')
    if args.jobs is None:
        from mmbrain.pipeline.executor import available_cpus

        args.jobs = 1 if args.nsd_root else min(MAX_DEFAULT_JOBS, available_cpus())
    elif args.jobs < 1:
        parser.error('--jobs must be at least 1')
    args.parser = parser
    return args


def list_stages(runner) -> None:
    from mmbrain.pipeline.stages import read_record

    total = 0.0
    jobs = runner.executor.describe(runner.stages)  # e.g. each stage's Slurm job id and state
    for stage, decision in zip(runner.stages, runner.decide()):
        record = None if decision.run else read_record(stage.output_dir, stage.name)
        if record is not None:
            total += float(record['seconds'])
            state = f'reuse  ({record["seconds"]:.0f} s)'
        else:
            state = 'MISSING' if decision.missing else 'run'
        print(f'{state:16s} {stage.name:34s} {stage.description}')
        if decision.run:
            print(f'{"":16s} {"":34s} -> {decision.reason}')
        if stage.name in jobs:
            print(f'{"":16s} {"":34s} -> {jobs[stage.name]}')
    print(f'{len(runner.stages)} stages; reused ones took {total:.0f} s when they ran')


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmbrain.pipeline import (
        PipelineError,
        PipelineUsageError,
        StageRunner,
        build_stages,
        collect_results,
        nsd_plan,
        synthetic_plan,
        write_figures,
        write_report,
    )
    from mmbrain.pipeline.data_check import missing_data
    from mmbrain.pipeline.errors import Interrupted

    # On the synthetic world a seeds study carries the ablations and the one-seed demo leaves them out; on NSD each is
    # days of 8-GPU training, run only when asked for.
    study = len(args.seeds) > 1 and not args.nsd_root
    table3 = study if args.table3 is None else args.table3
    guidance_ablations = study if args.guidance_ablations is None else args.guidance_ablations
    common = dict(
        seeds=args.seeds,
        table3=table3,
        guidance_ablations=guidance_ablations,
        ablations=args.ablations,
        task_names=args.tasks,
        report=args.report,
    )
    try:
        if args.nsd_root:
            plan = nsd_plan(
                args.nsd_root,
                args.gpus,
                args.backbone,
                args.work_dir or 'work_dirs/nsd',
                converted_root=args.converted_root,
                converted=args.converted,
                convert_args=args.convert_args,
                **common,
            )
        else:
            plan = synthetic_plan(
                args.work_dir or 'work_dirs/demo', world_seed=args.world_seed, world_args=args.world_args, **common
            )
    except ValueError as err:
        args.parser.error(str(err))
    stages = build_stages(plan)
    try:
        from mmbrain.pipeline.slurm import executor_from_args

        executor = executor_from_args(args, args.parser)  # None: children of this process
        # the node's GPUs, shared among the stages running at once (each takes its Stage.gpus)
        gpus = None if plan.synthetic else (args.node_gpus or plan.gpus)
        runner = StageRunner(stages, plan.work_dir, redo=args.redo, jobs=args.jobs, gpus=gpus, executor=executor)
    except PipelineUsageError as err:
        args.parser.error(str(err))
    if args.list:
        list_stages(runner)
        return 0
    if not plan.synthetic:  # the synthetic world makes its own COCO / ADE; real data must be there before hours of work
        missing = missing_data(plan, stages)
        if missing:
            print('run_pipeline: error: data missing or unreadable (docs/data.md), nothing was run:', file=sys.stderr)
            for line in missing:
                print(f'  {line}', file=sys.stderr)
            return 1

    from mmbrain.pipeline.report import git_commit

    commit = git_commit()  # the code the stages run with (edits made while they run are not theirs)
    start = time.perf_counter()
    try:
        runner.run()
        print('[report] collecting results and drawing figures')
        results = collect_results(plan, runner.timings, stages)
        figures = write_figures(results, osp.join(osp.dirname(plan.report_file), 'figures'))
        write_report(
            results,
            figures,
            plan.report_file,
            command=['python', 'tools/run_pipeline.py', *(sys.argv[1:] if argv is None else argv)],
            commit=commit,
        )
    except KeyboardInterrupt:
        print('run_pipeline: interrupted; finished stages are kept, the next run goes on from them', file=sys.stderr)
        return 130
    except Interrupted as err:
        print(f'run_pipeline: {err}; finished stages are kept', file=sys.stderr)
        return 128 + err.signum
    except (PipelineError, OSError, ValueError) as err:
        print(f'run_pipeline: error: {err}', file=sys.stderr)
        return 1
    print(
        f'[report] {plan.report_file} (this run: {time.perf_counter() - start:.0f} s; all stages: '
        f'{sum(runner.timings.values()):.0f} s)'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
