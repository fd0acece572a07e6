"""configurator.py: config files, then --key=value left to right, typed like the defaults; --help."""
import glob
import os

import pytest


from harness import bad_input, ROOT, run
from configurator import configure


def defaults():
    return dict(batch_size=12, learning_rate=6e-4, compile=True, out_dir='out', wandb_run_name='gpt2',
                start='\n', top_k=200, dataset='openwebtext')


def apply(args, nullable=()):
    g = defaults()
    config = configure(g, args, nullable=nullable)
    assert config == {k: g[k] for k in defaults()}  # the returned config is the final values
    return g


def fails(args, capsys):
    with bad_input() as e:
        apply(args)
    assert e.value.code == 2
    return capsys.readouterr().err


def test_files_then_overrides_last_wins(tmp_path):
    a, b = tmp_path / 'a.py', tmp_path / 'b.py'
    a.write_text("import math\nbatch_size = 4\nout_dir = 'out-a'\n_helper = 3\nlearning_rate = math.sqrt(1e-6)\n")
    b.write_text("batch_size = 8\n")
    g = apply([str(a), str(b)])
    assert (g['batch_size'], g['out_dir'], g['learning_rate']) == (8, 'out-a', 1e-3)
    assert apply([str(a), str(b), '--batch_size=16'])['batch_size'] == 16
    assert apply([str(a), '--batch_size=16', str(b)])['batch_size'] == 8  # strictly left to right
    assert apply(['--batch_size=1', '--batch_size=2'])['batch_size'] == 2


def test_literal_values():
    g = apply(['--learning_rate=1e-3', '--compile=False', '--dataset=shakespeare_char', "--start='ROMEO:'"])
    assert g['learning_rate'] == 1e-3 and g['compile'] is False
    assert g['dataset'] == 'shakespeare_char' and g['start'] == 'ROMEO:'
    assert apply(['--top_k=None'], nullable=('top_k',))['top_k'] is None


def test_int_accepted_for_float():
    g = apply(['--learning_rate=1'])
    assert g['learning_rate'] == 1.0 and type(g['learning_rate']) is float


def test_value_may_contain_equals():
    assert apply(['--wandb_run_name=lr=1e-3,bs=8'])['wandb_run_name'] == 'lr=1e-3,bs=8'
    assert apply(['--start=x = 1'])['start'] == 'x = 1'


def test_numeric_looking_value_for_a_string_stays_the_text():
    g = apply(['--out_dir=2024', '--wandb_run_name=1e3', '--dataset=None'])
    assert (g['out_dir'], g['wandb_run_name'], g['dataset']) == ('2024', '1e3', 'None')


def test_unknown_key_names_close_matches(tmp_path, capsys):
    err = fails(['--batch_sise=3'], capsys)
    assert "unknown config key 'batch_sise'" in err and 'batch_size' in err
    cfg = tmp_path / 'c.py'
    cfg.write_text("learnin_rate = 1e-3\n")
    err = fails([str(cfg)], capsys)
    assert 'learnin_rate' in err and 'learning_rate' in err and str(cfg) in err


def test_type_mismatch_is_an_error(tmp_path, capsys):
    assert "--compile expects a value of type bool" in fails(['--compile=yes'], capsys)
    assert "--compile expects a value of type bool" in fails(['--compile=1'], capsys)
    assert "--learning_rate expects a value of type float" in fails(['--learning_rate=True'], capsys)
    assert "--batch_size expects a value of type int" in fails(['--batch_size=1.5'], capsys)
    assert "--top_k expects a value of type int" in fails(['--top_k=None'], capsys)  # None only where allowed
    cfg = tmp_path / 'c.py'
    cfg.write_text("batch_size = '8'\n")
    assert "--batch_size expects a value of type int" in fails([str(cfg)], capsys)


def test_bad_arguments(tmp_path, capsys):
    assert 'has no value' in fails(['--compile'], capsys)
    assert 'cannot read config file' in fails([str(tmp_path / 'missing.py')], capsys)


def test_train_py_rejects_unknown_key():
    p = run(['train.py', '--device=cpu', '--n_layers=2'], expect=None)
    assert p.returncode == 2
    assert "unknown config key 'n_layers'; did you mean n_layer" in p.stderr


def test_help_lists_knobs_grouped_with_defaults_types_and_comments(tmp_path, capsys):
    script = tmp_path / 'script.py'
    script.write_text('"""A script."""\nimport os\n# -----\n# I/O\nout_dir = \'out\'  # where it goes\n'
                      'eval_interval = 2000\n# a longer note about the knobs below, not a group\n'
                      '# learning rate decay\nmin_lr = 6e-5  # ~= learning_rate/10\ntop_k = None\n')
    g = {'__file__': str(script), '__doc__': 'A script.', 'os': None, 'out_dir': 'out', 'eval_interval': 2000,
         'min_lr': 6e-5, 'top_k': None}
    for flag in ('--help', '-h'):
        with pytest.raises(SystemExit) as e:
            configure(dict(g), ['--batch_size=3', flag], nullable=('top_k',))  # before any other argument
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert 'A script.' in out and 'I/O:' in out and 'learning rate decay:' in out
        assert "--out_dir='out'" in out and 'where it goes' in out
        assert out.index('I/O:') < out.index('--out_dir') < out.index('--eval_interval') < out.index(
            '# a longer note') < out.index('learning rate decay:') < out.index('--min_lr=6e-05')
        lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith('  --')}
        assert lines['--eval_interval=2000'] == ['int'] and lines['--min_lr=6e-05'][:2] == ['float', '~=']
        assert lines['--top_k=None'] == ['any']
    # --key=value and config files are untouched by the new flag
    assert apply(['--batch_size=3'])['batch_size'] == 3


def test_train_py_help_exits_0_without_training(tmp_path):
    p = run(['train.py', '--help', f'--out_dir={tmp_path}/out'])
    assert p.returncode == 0 and p.stderr == ''
    for text in ('usage: python train.py', 'I/O:', 'learning rate decay:', '--max_iters=600000',
                 '--init_from=\'scratch\'', 'if True, evaluate once and exit', '--lr_decay_iters=600000'):
        assert text in p.stdout
    assert not os.path.exists(tmp_path / 'out')
    readme = open(os.path.join(ROOT, 'README.md')).read()
    excerpt = readme[readme.index('$ python train.py --help'):].split('```')[0].splitlines()
    knobs = [line for line in excerpt if line.startswith('  --')]
    assert len(knobs) >= 10 and all(line in p.stdout.splitlines() for line in knobs)  # the README shows real output


def test_prepare_scripts_help_prints_usage_and_prepares_nothing():
    scripts = sorted(glob.glob(os.path.join(ROOT, 'data', '*', 'prepare.py')) + glob.glob(os.path.join(ROOT, 'data', '*.py')))
    assert len(scripts) >= 9
    before = {f: os.path.getmtime(f) for f in glob.glob(os.path.join(ROOT, 'data', '**'), recursive=True)}
    for script in scripts:
        p = run([script, '--help'], expect=None)
        assert p.returncode == 0 and p.stdout.startswith('usage:'), (script, p.stdout, p.stderr)
    after = {f: os.path.getmtime(f) for f in glob.glob(os.path.join(ROOT, 'data', '**'), recursive=True)}
    assert after == before  # no file written, none removed
