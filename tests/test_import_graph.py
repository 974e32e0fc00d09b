"""vnseg's imports point down its layers, and have no circle.

Layers (the table in :mod:`vnseg`'s docstring, :data:`LAYERS` here): a module may import its own package and
the packages of the layers below its own, never a package of its own layer or of one above; an import that
runs up (or sideways) fails :func:`test_imports_point_down_the_layers`, naming the edge. The graph of
modules is acyclic (:func:`test_vnseg_has_no_import_circle`).

Every ``import``/``from ... import`` statement of every module under ``vnseg/`` counts, at any depth
(inside functions and methods too: a function-level import still makes its module depend on the
other one, it only delays the import). An edge goes from a module to the vnseg module it names:
``from vnseg.apis import meta`` names the module ``vnseg.apis.meta`` when such a file exists, else
the package ``vnseg.apis``; relative imports are resolved against the importing module's package.
Importing a submodule also runs its packages' ``__init__`` (``vnseg.apis.meta`` -> ``vnseg.apis``),
so those edges count too. Pure ``ast``: nothing is imported.
"""
import ast
import re
from pathlib import Path

import pytest
from conftest import REPO

#: vnseg's package (or top-level module) -> its layer; bottom first. The top-level ``__init__`` imports the version.
LAYERS = {
    'core': 0,
    'data': 1, 'distill': 1, 'openmmlab': 1,
    'datasets': 2, 'models': 2, 'engine': 2, 'evaluation': 2,
    'mmseg_ext': 3, 'geo': 3, 'inference': 3,
    'deploy': 4, 'apis': 4,
    'reports': 5,
    'commands': 6,
    'testing': 7,
}
#: modules at the top of ``vnseg/`` that belong to a package's layer (``python -m vnseg`` is the command line)
PART_OF = {'__main__': 'commands', '': 'core'}


def module_names(root: Path, package: str = 'vnseg') -> dict:
    """``{dotted module name: file}`` of every ``.py`` file of ``package`` below ``root``."""
    names = {}
    for path in sorted((root / package).rglob('*.py')):
        parts = list(path.relative_to(root).with_suffix('').parts)
        if parts[-1] == '__init__':
            parts = parts[:-1]
        names['.'.join(parts)] = path
    return names


def _is_package(name: str, modules: dict) -> bool:
    return modules[name].name == '__init__.py'


def imported_modules(name: str, source: str, modules: dict) -> set:
    """The modules of ``modules`` that the module ``name`` (with code ``source``) imports anywhere."""
    package = name if _is_package(name, modules) else name.rpartition('.')[0]
    found = set()

    def add(target):
        # the deepest existing module of ``target`` (a name imported from a module is not one)
        while target and target not in modules:
            target = target.rpartition('.')[0]
        if target:
            found.add(target)

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - (node.level - 1)]
                origin = '.'.join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ''
            add(origin)
            for alias in node.names:
                if f'{origin}.{alias.name}' in modules:
                    found.add(f'{origin}.{alias.name}')
    found.discard(name)
    return found


def import_graph(root: Path = REPO, package: str = 'vnseg') -> dict:
    """``{module: set of vnseg modules it imports}``, parent packages of each import included."""
    modules = module_names(root, package)
    graph = {}
    for name, path in modules.items():
        targets = imported_modules(name, path.read_text(encoding='utf-8'), modules)
        for target in list(targets):  # importing a.b.c runs a/__init__ and a/b/__init__ first
            parts = target.split('.')
            targets.update('.'.join(parts[:i]) for i in range(1, len(parts)))
        targets -= {name}
        targets -= {p for p in _parents(name)}  # a package's own __init__ already runs before it
        graph[name] = targets
    return graph


def _parents(name: str):
    parts = name.split('.')
    return ['.'.join(parts[:i]) for i in range(1, len(parts))]


def find_cycle(graph: dict):
    """One cycle of ``graph`` as a list ``[a, b, ..., a]``, or None when it is acyclic."""
    state = {}  # 1: on the current path, 2: done
    path = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def unit(module: str) -> str:
    """The package (or top-level module) of ``vnseg.X.y`` that :data:`LAYERS` names: ``X`` (``vnseg`` itself: core)."""
    name = module.split('.')[1] if '.' in module else ''
    return PART_OF.get(name, name)


def layer_violations(graph: dict, layers: dict = LAYERS) -> list:
    """``'a -> b (unit a, layer n -> unit b, layer m)'`` for every import of ``graph`` that does not point down."""
    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = unit(module), unit(target)
            if a != b and not layers[b] < layers[a]:
                found.append(f'{module} -> {target} ({a}, layer {layers[a]} -> {b}, layer {layers[b]})')
    return found


def test_vnseg_has_no_import_circle():
    graph = import_graph()
    assert len(graph) > 50 and 'vnseg.openmmlab.compat' in graph and 'vnseg.apis.model_loading' in graph
    cycle = find_cycle(graph)
    assert cycle is None, 'import circle: ' + ' -> '.join(cycle)


def test_imports_point_down_the_layers():
    graph = import_graph()
    assert {unit(m) for m in graph} == set(LAYERS), 'a vnseg package without a layer in LAYERS (or a layer left over)'
    violations = layer_violations(graph)
    assert not violations, 'imports that do not point down the layers:\n' + '\n'.join(violations)


def test_every_package_says_its_layer_in_its_docstring():
    """Each package's ``__init__`` (and ``vnseg/mmseg_ext.py``) says ``Layer N`` as :data:`LAYERS` has it, and
    ``vnseg``'s own docstring lists every package with its layer."""
    table = ast.get_docstring(ast.parse((REPO / 'vnseg' / '__init__.py').read_text(encoding='utf-8')))
    for name, layer in LAYERS.items():
        path = REPO / 'vnseg' / name / '__init__.py'
        path = path if path.exists() else REPO / 'vnseg' / f'{name}.py'
        doc = ast.get_docstring(ast.parse(path.read_text(encoding='utf-8')))
        said = re.findall(r'^Layer (\d+)\b', doc, re.M)
        assert said == [str(layer)], f'{path.relative_to(REPO)}: its docstring says layer {said}, LAYERS {layer}'
        listed = re.search(rf'^ *{layer}  vnseg\.{name} ', table, re.M)
        assert listed, f'vnseg/__init__.py: {name} is not listed in layer {layer}'


def test_the_layer_check_finds_an_import_that_runs_up_or_sideways(tmp_path):
    _write(tmp_path, {
        'pkg/__init__.py': '',
        'pkg/low/__init__.py': '', 'pkg/low/a.py': 'def f():\n    from pkg.high.b import g\n',
        'pkg/high/__init__.py': '', 'pkg/high/b.py': 'from pkg.low import a\n',
        'pkg/side/__init__.py': '', 'pkg/side/c.py': 'import pkg.high.b\n',
    })
    assert layer_violations(import_graph(tmp_path, 'pkg'), {'core': 0, 'low': 0, 'high': 1, 'side': 1}) == [
        'pkg.low.a -> pkg.high (low, layer 0 -> high, layer 1)',
        'pkg.low.a -> pkg.high.b (low, layer 0 -> high, layer 1)',
        'pkg.side.c -> pkg.high (side, layer 1 -> high, layer 1)',
        'pkg.side.c -> pkg.high.b (side, layer 1 -> high, layer 1)',
    ]


def _write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_check_finds_a_circle_through_a_function_level_import(tmp_path):
    _write(tmp_path, {
        'pkg/__init__.py': '',
        'pkg/low.py': 'def f():\n    from pkg.high import g\n    return g\n',
        'pkg/high.py': 'from . import low\n',
        'pkg/other.py': 'import os\nfrom pkg.low import f\n',
    })
    graph = import_graph(tmp_path, 'pkg')
    assert graph['pkg.high'] == {'pkg.low'} and graph['pkg.low'] == {'pkg.high'}
    assert graph['pkg.other'] == {'pkg.low'}
    assert find_cycle(graph) == ['pkg.high', 'pkg.low', 'pkg.high']


def test_the_check_counts_parent_packages_and_relative_imports(tmp_path):
    _write(tmp_path, {
        'pkg/__init__.py': '',
        'pkg/ext.py': 'from .sub.meta import x\n',
        'pkg/sub/__init__.py': 'def fixes():\n    import pkg.ext\n',
        'pkg/sub/meta.py': 'x = 1\n',
    })
    graph = import_graph(tmp_path, 'pkg')
    assert graph['pkg.ext'] == {'pkg.sub.meta', 'pkg.sub'}
    assert graph['pkg.sub'] == {'pkg.ext'}
    assert find_cycle(graph) == ['pkg.ext', 'pkg.sub', 'pkg.ext']
    _write(tmp_path, {'pkg/sub/__init__.py': ''})
    assert find_cycle(import_graph(tmp_path, 'pkg')) is None


@pytest.mark.parametrize('source, expected', [
    ('from . import b', {'pkg.a', 'pkg.a.b'}),  # (its package's __init__ runs too)
    ('from .b import thing', {'pkg.a.b'}),
    ('from .. import c', {'pkg', 'pkg.c'}),
    ('from ..c import name', {'pkg.c'}),
    ('import pkg.a.b as alias', {'pkg.a.b'}),
    ('from pkg.a import missing_name', {'pkg.a'}),
])
def test_imports_are_resolved_to_modules(tmp_path, source, expected):
    _write(tmp_path, {'pkg/__init__.py': '', 'pkg/a/__init__.py': '', 'pkg/a/b.py': '', 'pkg/c.py': '',
                      'pkg/a/user.py': source + '\n'})
    modules = module_names(tmp_path, 'pkg')
    assert imported_modules('pkg.a.user', source, modules) == expected
