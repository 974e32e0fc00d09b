"""The README is a short guide whose commands work, and the docs' links lead somewhere.

* every ``vnseg SUBCOMMAND``, ``python PATH.py`` and ``make TARGET`` that a shell code block of README.md or
  docs/*.md runs exists and answers (``--help`` exits 0 with a usage line; ``make -n TARGET`` exits 0), and the
  README runs the main ones;
* every relative link (and image) in README.md and docs/*.md points to an existing file, and a ``#fragment``
  to a heading of that file;
* README.md stays under 250 lines, and carries no measurement: no date, no table of timings or gains
  (measurements live in docs/results.md, with their commands and dates; the README gives one line per result and
  a link).

The parsers are tested on samples first, so a parser that finds nothing cannot pass for a clean README.
"""
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO as ROOT
README = ROOT / 'README.md'
DOC_FILES = [README] + sorted((ROOT / 'docs').glob('*.md'))
MAX_README_LINES = 250
SHELL_LANGUAGES = {'', 'bash', 'sh', 'shell', 'console'}

_FENCE = re.compile(r'^```([\w+-]*)[ \t]*\n(.*?)^```[ \t]*$', re.M | re.S)
_SEPARATORS = re.compile(r'&&|\|\||[;|()]')
_PREFIXES = {'do', 'then', 'else', 'time', 'exec'}  # words before a command that are not the command
_ASSIGNMENT = re.compile(r'^[A-Za-z_]\w*=')
_WORD = re.compile(r'^[a-z][\w-]*$')
_LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
_HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$', re.M)
_DATE = re.compile(r'\b20\d\d-[01]\d-[0-3]\d\b')
_MEASURED_CELL = re.compile(r'(?<![\w.])[+-]\d+(?:\.\d+)?\b|\b\d+(?:\.\d+)? ?(?:min|s|ms|MB|GB)\b')


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


def _calls(text):
    """``(command, args)`` of every command that the text's shell code blocks run (``python -m vnseg`` -> vnseg)."""
    for line in shell_commands(text):
        for segment in _SEPARATORS.split(line):
            words = segment.split()
            while words and (words[0] in _PREFIXES or _ASSIGNMENT.match(words[0])):
                words.pop(0)  # `OMP_NUM_THREADS=1 python ...`, `for ...; do vnseg ...`
            if len(words) < 2:
                continue
            cmd, args = os.path.basename(words[0]), words[1:]
            if cmd in ('python', 'python3') and args[:2] == ['-m', 'vnseg']:
                cmd, args = 'vnseg', args[2:]
            yield cmd, args


def named_commands(text):
    """``(vnseg subcommands, python scripts, make targets)`` that the text's shell code blocks run."""
    subs, scripts, targets = set(), set(), set()
    for cmd, args in _calls(text):
        if cmd == 'vnseg' and args and _WORD.match(args[0]):
            subs.add(args[0])
        elif cmd in ('python', 'python3') and args[0].endswith('.py'):
            scripts.add(args[0])
        elif cmd == 'make':
            targets.update(a for a in args if _WORD.match(a))
    return sorted(subs), sorted(scripts), sorted(targets)


def vnseg_options(text):
    """``{subcommand: {'--option', ...}}``: the long options that the text's ``vnseg`` commands pass."""
    options = {}
    for cmd, args in _calls(text):
        if cmd == 'vnseg' and args and _WORD.match(args[0]):
            found = {a.split('=')[0] for a in args[1:] if re.match(r'^--[a-z][\w-]*', a)}
            options.setdefault(args[0], set()).update(found)
    return options


def measurements(text):
    """The lines of a Markdown text that carry a measurement: a date anywhere in the prose, or a table row with a
    duration or a signed gain (``+9.90``). Code blocks and link targets (whose anchors may hold a date) don't count."""
    found = []
    for line in _FENCE.sub('', text).splitlines():
        prose = re.sub(r'\]\([^)]*\)', '](...)', line)
        if _DATE.search(prose) or (prose.lstrip().startswith('|') and _MEASURED_CELL.search(prose)):
            found.append(line)
    return found


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
# the commands named by the README (which must name the main ones) and by the docs pages
NAMED = [named_commands(p.read_text(encoding='utf-8')) for p in DOC_FILES]
SUBCOMMANDS, SCRIPTS, TARGETS = (sorted(set().union(*kind)) for kind in zip(*NAMED))
OPTIONS = {}
for _page in DOC_FILES:
    for _sub, _found in vnseg_options(_page.read_text(encoding='utf-8')).items():
        OPTIONS.setdefault(_sub, set()).update(_found)


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
OMP_NUM_THREADS=1 python benchmarks/recipe_quality.py --recipes stock vnseg vnseg-kd \\
    --seed 0 && .venv/bin/python -m vnseg train cfg.py
for t in 1 2; do vnseg prepare "scenes $t" --out-dir d; done
pip install vnseg-not-a-command
```

```python
import vnseg.mmseg_ext  # python code: not shell
vnseg_python = "vnseg test"
```
'''


def test_parser_finds_the_commands_that_shell_blocks_run():
    subs, scripts, targets = named_commands(SAMPLE)
    assert subs == ['map', 'prepare', 'train']
    assert scripts == ['benchmarks/recipe_quality.py']
    assert targets == ['demo', 'setup']
    assert vnseg_options(SAMPLE) == {'map': set(), 'prepare': {'--out-dir'}, 'train': set()}


def test_measurement_finder_flags_dates_and_measured_tables():
    sample = ('Measured 2026-12-01 on the Dubai tiles.\n'
              'One line and a [link](docs/results.md#distillation-2026-12-02), with a gain of +9.90 in prose.\n'
              '| seed | gain |\n| --- | ---: |\n| 0 | **+9.90** |\n| first set-up | 16 min 20 s |\n'
              '| `configs/pspnet_r18_vn.py` | 2.1 | 2.11 | 11.9 | 77.98 |\n| confidence | in % (0-100) |\n'
              '```text\n[setup 2026-12-02] done\n```\n')
    assert measurements(sample) == ['Measured 2026-12-01 on the Dubai tiles.', '| 0 | **+9.90** |',
                                    '| first set-up | 16 min 20 s |']


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


def test_readme_carries_no_measurement():
    assert measurements(README_TEXT) == [], 'measurements go to docs/results.md; the README keeps a line and a link'
    assert 'docs/results.md' in README_TEXT


def test_readme_names_the_main_commands():
    # guards the parametrised tests below: a README (or parser) that names nothing would test nothing
    subs, _, targets = named_commands(README_TEXT)
    assert {'map', 'prepare', 'train', 'test', 'export'} <= set(subs)
    assert {'demo', 'test'} <= set(targets)


@pytest.mark.parametrize('sub', SUBCOMMANDS)
def test_vnseg_subcommand_exists_and_helps(sub):
    from vnseg.commands import COMMANDS
    assert sub in COMMANDS, f'the docs name `vnseg {sub}`, which is not a command ({", ".join(COMMANDS)})'
    res = _run([sys.executable, '-m', 'vnseg', sub, '--help'])
    assert res.returncode == 0, res.stderr[-2000:]
    assert f'usage: vnseg {sub}' in res.stdout
    helped = set(re.findall(r'--[a-z][\w-]*', res.stdout))
    unknown = sorted(OPTIONS.get(sub, set()) - helped)
    assert not unknown, f'the docs pass {unknown} to `vnseg {sub}`, which its --help does not list'


@pytest.mark.parametrize('script', SCRIPTS)
def test_python_script_exists_and_helps(script):
    assert (ROOT / script).is_file(), f'the docs name `python {script}`, which does not exist'
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
