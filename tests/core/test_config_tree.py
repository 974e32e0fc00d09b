"""walk_config: every key of every nested mapping, parents first, below replaced values."""
from vnseg.core.config_tree import walk_config


def test_walk_visits_every_key_parents_first():
    cfg = {'a': 1, 'b': {'c': [{'d': 2}, 3, ({'e': 4},)]}}
    assert [key for _, key, _ in walk_config(cfg)] == ['a', 'b', 'c', 'd', 'e']
    assert list(walk_config([1, 'x', None])) == []


def test_walk_goes_below_the_replaced_value():
    cfg = {'x': {'old': 1}}
    seen = []
    for mapping, key, value in walk_config(cfg):
        seen.append(key)
        if key == 'x':
            mapping[key] = {'new': 2}
    assert seen == ['x', 'new'] and cfg == {'x': {'new': 2}}
