"""The ``vnseg`` command: its subcommands, their help, exit statuses, and the same code as ``tools/``."""
import os
import subprocess
import sys

import pytest

from conftest import REPO
from vnseg.commands import COMMANDS, main


def _vnseg(*args, cwd=REPO):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, '-m', 'vnseg', *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_help_after_a_subcommand_module_was_imported(capsys):
    """Importing ``vnseg.commands.map`` binds ``map`` in the package: the help must not use the builtin."""
    import vnseg.commands.map  # noqa: F401
    assert main(['--help']) == 0
    assert '\n  map ' in capsys.readouterr().out


def test_help_lists_every_subcommand(capsys):
    assert main(['--help']) == 0
    out = capsys.readouterr().out
    for name in ('prepare', 'train', 'test', 'map', 'export', 'prelabel', 'compare', 'report'):
        assert f'\n  {name} ' in out
    assert set(COMMANDS) == {line.split()[0] for line in out.split('commands:\n')[1].splitlines()}


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert 'usage: vnseg COMMAND' in capsys.readouterr().out


def test_unknown_command_is_one_line_and_status_2(capsys):
    assert main(['segment']) == 2
    err = capsys.readouterr().err
    assert err == 'error: segment: not a vnseg command (see vnseg --help)\n'


def test_every_tool_script_is_a_thin_caller_of_its_command():
    """``tools/X.py`` holds no code of its own: it imports ``main`` from the command's module."""
    for name, (module, script, _) in COMMANDS.items():
        text = (REPO / script).read_text()
        assert f'from vnseg.commands.{module} import main' in text, script
        assert len([line for line in text.splitlines() if line.strip()]) < 15, script


@pytest.mark.parametrize('name', ['map', 'train', 'export'])
def test_subcommand_help_is_the_tools_help(name):
    module, script, _ = COMMANDS[name]
    ours = _vnseg(name, '--help')
    tool = subprocess.run([sys.executable, script, '--help'], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert ours.returncode == 0 and tool.returncode == 0, ours.stderr + tool.stderr
    assert ours.stdout.startswith(f'usage: vnseg {name} ')
    # the same description and options (the usage block above them wraps by the program name's length)
    assert ours.stdout.split('\n\n', 1)[1] == tool.stdout.split('\n\n', 1)[1]


def test_user_mistake_is_one_error_line_and_status_1(tmp_path):
    proc = _vnseg('map', str(tmp_path / 'missing.onnx'), str(tmp_path / 'scene.tif'), str(tmp_path / 'out'))
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and 'missing.onnx' in lines[0], proc.stderr
    assert not (tmp_path / 'out').exists()


def test_usage_error_is_status_2():
    proc = _vnseg('map', '--tile', 'big', 'm.onnx', 'a.tif', 'out')
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --tile: expected a whole number, got 'big' (see vnseg map --help)"


def test_map_takes_model_image_and_output_folder_positionally(tmp_path):
    from vnseg.commands.map import parse_args
    args = parse_args(['model.onnx', 'a.tif', 'b.tif', 'out'])
    assert (args.onnx, args.images, args.out_dir) == ('model.onnx', ['a.tif', 'b.tif'], 'out')
    args = parse_args(['cfg.py', 'w.pth', 'a.tif', '--out-dir', 'o'])
    assert (args.config, args.checkpoint, args.images, args.out_dir) == ('cfg.py', 'w.pth', ['a.tif'], 'o')
    image = tmp_path / 'a.tif'
    image.write_bytes(b'')
    with pytest.raises(SystemExit) as exc:  # an existing file as the output folder would be clobbered
        parse_args(['model.onnx', str(image), str(image)])
    assert exc.value.code == 2


@pytest.mark.parametrize('name', sorted(COMMANDS))
def test_every_subcommand_usage_error_is_one_line_and_status_2(name, capsys):
    """An unknown option: ``error: <what>: <problem> (see vnseg NAME --help)``, status 2, nothing else."""
    import importlib
    module = importlib.import_module(f'vnseg.commands.{COMMANDS[name][0]}')
    with pytest.raises(SystemExit) as exc:
        module.main(['--no-such-option'])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('error: ') and '--help)' in err, err
