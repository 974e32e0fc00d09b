"""The README is a short guide whose commands work, and the docs' links lead somewhere.

* every ``vnseg SUBCOMMAND``, ``python PATH.py`` and ``make TARGET`` that a shell code block of README.md names
  exists and answers (``--help`` exits 0 with a usage line; ``make -n TARGET`` exits 0);
* every relative link (and image) in README.md and docs/*.md points to an existing file, and a ``#fragment``
  to a heading of that file;
* README.md stays under 250 lines (measurements live in docs/, with their commands).

The parsers are tested on samples first, so a parser that finds nothing cannot pass for a clean README.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / 'README.md'
DOC_FILES = [README] + sorted((ROOT / 'docs').glob('*.md'))
MAX_README_LINES = 250
SHELL_LANGUAGES = {'', 'bash', 'sh', 'shell', 'console'}

_FENCE = re.compile(r'^```([\w+-]*)[ \t]*\n(.*?)^```[ \t]*$', re.M | re.S)
_START = r'(?:^|(?<=[\s;&|(]))'  # a command starts a line or follows a separator
_VNSEG = re.compile(_START + r'vnseg\s+([a-z][\w-]*)')
_PYTHON = re.compile(_START + r'python3?\s+((?:[\w.-]+/)*[\w.-]+\.py)(?=\s|$)')
_MAKE = re.compile(_START + r'make\s+([a-z][\w-]*)')
_LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
_HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$', re.M)


def code_blocks(text):
    """``[(language, body)]`` of the fenced code blocks of a Markdown text."""
    return [(lang.lower(), body) for lang, body in _FENCE.findall(text)]


def shell_commands(text):
    """The shell lines of a Markdown text's code blocks: continuations joined, comments dropped."""
    lines = []
    for lang, body in code_blocks(text):
        if lang not in SHELL_LANGUAGES:
            continue
        for line in body.replace('\\\n', ' ').splitlines():
            line = re.sub(r'(?:^|\s)#.*$', '', line).strip()
            if line:
                lines.append(line)
    return lines


def named_commands(text):
    """``(vnseg subcommands, python scripts, make targets)`` named in the text's shell code blocks."""
    subs, scripts, targets = set(), set(), set()
    for line in shell_commands(text):
        subs.update(_VNSEG.findall(line))
        scripts.update(_PYTHON.findall(line))
        targets.update(_MAKE.findall(line))
    return sorted(subs), sorted(scripts), sorted(targets)


def heading_anchors(text):
    """GitHub's anchors of a Markdown text's headings (``## A `b` c`` -> ``a-b-c``; repeats get -1, -2...)."""
    seen, anchors = {}, set()
    for _, title in _HEADING.findall(_FENCE.sub('', text)):
        title = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', title)  # a link's text
        slug = re.sub(r'[^\w\- ]', '', title.lower()).replace(' ', '-')
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f'{slug}-{n}')
    return anchors


def broken_links(path):
    """``['target: why']`` for every relative link of a Markdown file that does not lead to a file or heading."""
    text = path.read_text(encoding='utf-8')
    prose = re.sub(r'`[^`\n]*`', '', _FENCE.sub('', text))  # links inside code are not links
    problems = []
    for target in _LINK.findall(prose):
        if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.I) or target.startswith('//'):
            continue  # http:, https:, mailto: ...
        file_part, _, fragment = target.partition('#')
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f'{target}: no such file {dest}')
        elif fragment and dest.suffix == '.md' and fragment not in heading_anchors(dest.read_text(encoding='utf-8')):
            problems.append(f'{target}: no heading #{fragment} in {dest.name}')
    return problems


README_TEXT = README.read_text(encoding='utf-8')
SUBCOMMANDS, SCRIPTS, TARGETS = named_commands(README_TEXT)


def _run(args, timeout=180):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')])))
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


# --- the parsers, on samples -------------------------------------------------------------------------------

SAMPLE = '''
Text naming vnseg fake-prose and `python tools/not_in_a_block.py`.

```bash
make demo   # and make commented-out
VNSEG_CUDA=1 make setup
vnseg map model.onnx mosaic.tif out/   # vnseg commented
OMP_NUM_THREADS=1 python benchmarks/recipe_quality.py --train-src a \\
    --seed 0 && python -m vnseg train cfg.py
pip install vnseg-not-a-command
```

```python
import vnseg.mmseg_ext  # python code: not shell
vnseg_python = "vnseg test"
```
'''


def test_parser_finds_commands_in_shell_blocks_only():
    subs, scripts, targets = named_commands(SAMPLE)
    assert subs == ['map', 'train']
    assert scripts == ['benchmarks/recipe_quality.py']
    assert targets == ['demo', 'setup']


def test_link_checker_flags_missing_files_and_headings(tmp_path):
    (tmp_path / 'docs').mkdir()
    (tmp_path / 'docs' / 'a.md').write_text('# Title\n\n## The `shipped` recipe (today)\n')
    page = tmp_path / 'README.md'
    page.write_text('[ok](docs/a.md) [ok anchor](docs/a.md#the-shipped-recipe-today) [self](#top)\n'
                    '[gone](docs/b.md) [bad anchor](docs/a.md#nope) ![img](docs/missing.png)\n'
                    '[web](https://example.org/x.md) `[in code](docs/c.md)`\n\n# Top\n'
                    '```\n[in a block](docs/d.md)\n```\n')
    problems = broken_links(page)
    assert [p.split(':')[0] for p in problems] == ['docs/b.md', 'docs/a.md#nope', 'docs/missing.png']


# --- the README --------------------------------------------------------------------------------------------

def test_readme_is_short():
    lines = README_TEXT.count('\n')
    assert lines < MAX_README_LINES, f'README.md has {lines} lines; move detail to docs/'


def test_readme_names_the_main_commands():
    # guards the parametrised tests below: a README (or parser) that names nothing would test nothing
    assert {'map', 'prepare', 'train', 'test', 'export'} <= set(SUBCOMMANDS)
    assert {'demo', 'test'} <= set(TARGETS)


@pytest.mark.parametrize('sub', SUBCOMMANDS)
def test_vnseg_subcommand_exists_and_helps(sub):
    from vnseg.commands import COMMANDS
    assert sub in COMMANDS, f'README names `vnseg {sub}`, which is not a command ({", ".join(COMMANDS)})'
    res = _run([sys.executable, '-m', 'vnseg', sub, '--help'])
    assert res.returncode == 0, res.stderr[-2000:]
    assert f'usage: vnseg {sub}' in res.stdout


@pytest.mark.parametrize('script', SCRIPTS)
def test_python_script_exists_and_helps(script):
    assert (ROOT / script).is_file(), f'README names `python {script}`, which does not exist'
    res = _run([sys.executable, script, '--help'])
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'usage:' in res.stdout


@pytest.mark.parametrize('target', TARGETS)
def test_make_target_exists(target):
    res = _run(['make', '-n', target], timeout=60)
    assert res.returncode == 0, f'make -n {target}: {res.stderr[-2000:]}'


@pytest.mark.parametrize('page', DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_to_files(page):
    assert broken_links(page) == []
