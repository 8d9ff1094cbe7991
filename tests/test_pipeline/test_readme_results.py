# Copyright (c) mmbrain contributors. All rights reserved.
"""README's prose about the seeds study says only what the committed report measured.

Every ``mean ± sd`` cell and every ``difference [low, high]`` interval quoted in README's study section (from the
paragraph that links the committed report to the next heading) must be a cell or interval of the report, rounded to
the README's digits; an interval the report does not have, or a number that differs, fails.
"""

import os.path as osp
import re
from typing import List, Tuple

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REPORT = 'docs/results/synthetic_seeds-0-1-2/report.md'
NUMBER = r'[-+−]?\d+(?:\.\d+)?'
CELL = re.compile(rf'({NUMBER}) ± ({NUMBER})')
INTERVAL = re.compile(rf'({NUMBER}) \[({NUMBER}), ({NUMBER})\]')


def _study_section(readme: str) -> str:
    """From the paragraph that links the committed report to the next heading, whitespace collapsed."""
    start = readme.index(REPORT)
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


def test_readme_quotes_only_the_committed_report():
    with open(osp.join(REPO, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    if REPORT not in readme:
        pytest.fail(f'README.md no longer links {REPORT}: its study prose cannot be checked')
    with open(osp.join(REPO, REPORT), encoding='utf-8') as f:
        report = f.read()
    section = _study_section(readme)
    assert _numbers(INTERVAL, section), 'the study section quotes no interval (is the section found?)'
    wrong = _check(section, report)
    assert not wrong, f'README.md quotes numbers that {REPORT} does not have: {wrong}'


def test_the_check_fails_on_a_number_the_report_does_not_have():
    report = '| Brainformer - random init | +0.042 [+0.009, +0.075] |\n| random init | 25.966 ± 0.127 |'
    assert _check('gain +0.042 [+0.009, +0.075], mIoU 25.97 ± 0.13', report) == []
    assert _check('gain +0.042 [+0.009, +0.080]', report) == ['+0.042 / +0.009 / +0.080']
    assert _check('gain -0.042 [-0.075, -0.009]', report) != []  # the sign counts
    assert _check('mIoU 25.97 ± 0.14', report) == ['25.97 / 0.14']
