# Copyright (c) mmbrain contributors. All rights reserved.
"""README's prose about the committed studies says only what their reports measured.

Every ``mean ± sd`` cell and every ``difference [low, high]`` interval quoted in a README section that links a
committed three-seed report (from the paragraph that links it to the next heading) must be a cell or interval of that
report, rounded to the README's digits; an interval the report does not have, or a number that differs, fails.
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


def test_the_null_world_notes_quote_only_the_reports_they_compare():
    """The null-world notes' three-seed section quotes only the null and the default world's reports."""
    with open(osp.join(REPO, 'docs/results/synthetic_null-world/README.md'), encoding='utf-8') as f:
        notes = f.read()
    heading = '## The null world through every task, three seeds'
    assert heading in notes, 'the three-seed section of the null-world notes is gone'
    section = ' '.join(notes[notes.index(heading) :].split())
    reports = ''
    for report_path in REPORTS:
        with open(osp.join(REPO, report_path), encoding='utf-8') as f:
            reports += f.read()
    assert _numbers(INTERVAL, section) and _numbers(CELL, section)
    wrong = _check(section, reports)
    assert not wrong, f'the null-world notes quote numbers that neither report has: {wrong}'


def test_the_check_fails_on_a_number_the_report_does_not_have():
    report = '| Brainformer - random init | +0.042 [+0.009, +0.075] |\n| random init | 25.966 ± 0.127 |'
    assert _check('gain +0.042 [+0.009, +0.075], mIoU 25.97 ± 0.13', report) == []
    assert _check('gain +0.042 [+0.009, +0.080]', report) == ['+0.042 / +0.009 / +0.080']
    assert _check('gain -0.042 [-0.075, -0.009]', report) != []  # the sign counts
    assert _check('mIoU 25.97 ± 0.14', report) == ['25.97 / 0.14']
