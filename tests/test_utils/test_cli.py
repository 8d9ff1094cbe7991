# Copyright (c) mmbrain contributors. All rights reserved.
"""The tools' command-line helpers: ``--cfg-options`` usage errors (exit 2), ``custom_imports`` honoured, paths
that mmengine would rewrite refused."""

import sys

import pytest
from mmengine.config import Config

from mmbrain.utils.cli import check_path_option, merge_cfg_options, parse_cfg_options


def test_a_pair_without_equals_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_cfg_options(['a=1', 'foo'])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == "error: --cfg-options takes KEY=VALUE pairs, got ['foo']"
    assert parse_cfg_options(['a.b=1', 'c=[1,2]']) == {'a.b': 1, 'c': [1, 2]}


def test_custom_imports_in_cfg_options_are_imported(tmp_path, monkeypatch):
    (tmp_path / 'extra_components.py').write_text('IMPORTED = True\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, 'extra_components', raising=False)
    cfg = Config(dict(custom_imports=dict(imports=['json'], allow_failed_imports=False)))
    merge_cfg_options(cfg, ["custom_imports.imports=['json','extra_components']"])
    assert cfg.custom_imports.imports == ['json', 'extra_components']
    assert sys.modules['extra_components'].IMPORTED  # mmengine's Config.fromfile had already run: imported here
    # the tools that merge the parsed options themselves get the same
    (tmp_path / 'more_components.py').write_text('IMPORTED = True\n')
    monkeypatch.delitem(sys.modules, 'more_components', raising=False)
    parse_cfg_options(["custom_imports.imports=['more_components']"])
    assert sys.modules['more_components'].IMPORTED


def test_custom_imports_that_fail_are_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        merge_cfg_options(Config(), ["custom_imports.imports=['no_such_module_xyz']"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == 'error: --cfg-options custom_imports: Failed to import no_such_module_xyz\n'


@pytest.mark.parametrize('path', ['/tmp/{{ fileDirname }}/run', 'work_dirs/{{fileBasename}}', 'a{{ _base_.x }}'])
def test_paths_that_mmengine_rewrites_are_refused(path, capsys):
    with pytest.raises(SystemExit) as exit_:
        check_path_option('--work-dir', path)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith(f'error: --work-dir {path}: a path containing "{{{{ ... }}}}"')
    check_path_option('--work-dir', 'work_dirs/{a}/b c,d')  # braces and spaces otherwise are fine


def test_mmengine_rewrites_such_a_path(tmp_path):
    """The premise: a config holding the path (as the work dir's dumped config does) reads back changed."""
    work_dir = str(tmp_path / '{{ fileDirname }}' / 'run')
    Config(dict(work_dir=work_dir)).dump(str(tmp_path / 'dumped.py'))
    assert Config.fromfile(str(tmp_path / 'dumped.py')).work_dir != work_dir
