# Copyright (c) mmbrain contributors. All rights reserved.
"""The prose about the committed studies says only what their reports measured.

Every ``mean ± sd`` cell and every ``difference [low, high]`` interval quoted in a README section that links a
committed three-seed report (from the paragraph that links it to the next heading), or in a section of the result
notes (``NOTES``), must be a cell or interval of the reports it reads, rounded to the quoted digits; an interval the
reports do not have, or a number that differs, fails.
"""

import os.path as osp
import re
from typing import List, Tuple

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REPORTS = (
    'docs/results/synthetic_seeds-0-1-2/report.md',  # the study section
    'docs/results/synthetic_null-world/seeds-0-1-2/report.md',  # the controls section
)
NUMBER = r'[-+−]?\d+(?:\.\d+)?'
CELL = re.compile(rf'({NUMBER}) ± ({NUMBER})')
INTERVAL = re.compile(rf'({NUMBER}) \[({NUMBER}), ({NUMBER})\]')


def _section(readme: str, report: str) -> str:
    """From the paragraph that links ``report`` to the next heading, whitespace collapsed."""
    start = readme.index(report)
    start = readme.rfind('\n\n', 0, start) + 2
    end = readme.find('\n#', start)
    return ' '.join(readme[start : end if end >= 0 else None].split())


def _numbers(pattern: re.Pattern, text: str) -> List[Tuple[str, ...]]:
    return [tuple(g.replace('−', '-') for g in m.groups()) for m in pattern.finditer(text)]


def _rounds_to(quoted: Tuple[str, ...], measured: Tuple[str, ...]) -> bool:
    """Each quoted number is the measured one rounded to the quoted digits (signs included)."""
    for q, m in zip(quoted, measured):
        digits = len(q.split('.')[1]) if '.' in q else 0
        if abs(float(m) - float(q)) > 0.5 * 10**-digits + 1e-9:
            return False
    return True


def _check(section: str, report: str) -> List[str]:
    wrong = []
    for pattern in (CELL, INTERVAL):
        measured = _numbers(pattern, report)
        for quoted in _numbers(pattern, section):
            if not any(_rounds_to(quoted, m) for m in measured):
                wrong.append(' / '.join(quoted))
    return wrong


@pytest.mark.parametrize('report_path', REPORTS)
def test_readme_quotes_only_the_committed_report(report_path):
    with open(osp.join(REPO, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    if report_path not in readme:
        pytest.fail(f'README.md no longer links {report_path}: the prose about it cannot be checked')
    with open(osp.join(REPO, report_path), encoding='utf-8') as f:
        report = f.read()
    section = _section(readme, report_path)
    assert _numbers(INTERVAL, section), f'the section linking {report_path} quotes no interval (is it found?)'
    wrong = _check(section, report)
    assert not wrong, f'README.md quotes numbers that {report_path} does not have: {wrong}'


NULL_WORLD_NOTES = 'docs/results/synthetic_null-world/README.md'
#: The dose-response over --snr: the null world (0), 0.1, 0.3 and the default world (1).
DOSE_RESPONSE = (
    *REPORTS,
    'docs/results/synthetic_null-world/snr-0.1_seeds-0-1-2/report.md',
    'docs/results/synthetic_null-world/snr-0.3_seeds-0-1-2/report.md',
)
#: Result notes beside the reports: (document, the text that opens the section, the reports its numbers come from).
#: A section runs from that text to the next heading.
NOTES = (
    (NULL_WORLD_NOTES, '## The null world through every task, three seeds', REPORTS),
    (
        NULL_WORLD_NOTES,
        "## Retrieval and encoding against the signal's strength, three seeds",
        DOSE_RESPONSE,
    ),
    (
        'docs/evaluation.md',
        '**Between the null world and the default one**',
        DOSE_RESPONSE,
    ),
    (
        'docs/evaluation.md',
        "**The guidance loss's measured effect",
        (
            'docs/results/synthetic_ablations_seeds-0-1-2/report.md',
            'docs/results/synthetic_bfg-printed_seeds-0-1-2/report.md',
        ),
    ),
)


@pytest.mark.parametrize('document,opening,report_paths', NOTES, ids=[f'{d}: {o}' for d, o, _ in NOTES])
def test_result_notes_quote_only_the_reports_they_read(document, opening, report_paths):
    with open(osp.join(REPO, document), encoding='utf-8') as f:
        text = f.read()
    assert opening in text, f'{document}: the section opening {opening!r} is gone'
    start = text.index(opening)
    end = text.find('\n#', start + len(opening))
    section = ' '.join(text[start : end if end >= 0 else None].split())
    reports = ''
    for report_path in report_paths:
        with open(osp.join(REPO, report_path), encoding='utf-8') as f:
            reports += f.read()
    assert _numbers(INTERVAL, section) and _numbers(CELL, section), f'{document}: no number found after {opening!r}'
    wrong = _check(section, reports)
    assert not wrong, f'{document} quotes numbers that none of {report_paths} has: {wrong}'


def test_the_check_fails_on_a_number_the_report_does_not_have():
    report = '| Brainformer - random init | +0.042 [+0.009, +0.075] |\n| random init | 25.966 ± 0.127 |'
    assert _check('gain +0.042 [+0.009, +0.075], mIoU 25.97 ± 0.13', report) == []
    assert _check('gain +0.042 [+0.009, +0.080]', report) == ['+0.042 / +0.009 / +0.080']
    assert _check('gain -0.042 [-0.075, -0.009]', report) != []  # the sign counts
    assert _check('mIoU 25.97 ± 0.14', report) == ['25.97 / 0.14']
