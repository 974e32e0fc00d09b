"""A hook that records the training data's ground resolution (GSD) in every checkpoint."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from vnseg.core.config_tree import train_data_roots
from vnseg.data.gsd import GSD_META_KEY, find_summary, summary_train_gsd_cm, valid_gsd_cm


@HOOKS.register_module()
class GsdMetaHook(Hook):
    """Add the training GSD, cm per pixel, to every checkpoint: ``checkpoint['meta']['gsd_cm']``.

    The value is ``gsd_cm`` when given, else the training GSD that ``tools/prepare_dataset.py`` wrote
    in the ``summary.json`` of the train dataset's ``data_root`` (or its parent; the median of the
    train scenes, :mod:`vnseg.data.gsd`). With several train data roots their GSDs must agree (within
    1 %), else none is recorded. Without a known GSD nothing is recorded (a one-time log line says so):
    ``vnseg export`` then needs ``--resolution-cm`` and ``vnseg map --match-gsd`` refuses the model.
    ``tools/train.py`` adds this hook to every training (:func:`vnseg.commands.runner.record_training_gsd`).

    Args:
        gsd_cm: the training GSD (cm/px), overriding the data summary.
    """

    priority = 'VERY_LOW'

    def __init__(self, gsd_cm: Optional[float] = None):
        self.given = None if gsd_cm is None else valid_gsd_cm(gsd_cm)
        if gsd_cm is not None and self.given is None:
            raise ValueError(f'GsdMetaHook: gsd_cm must be a number > 0 (cm per pixel), got {gsd_cm!r}')
        self.gsd_cm: Optional[float] = self.given
        self.source: Optional[str] = 'GsdMetaHook(gsd_cm=...)' if self.given is not None else None
        self._resolved = self.given is not None

    def resolve(self, cfg) -> Optional[float]:
        """The GSD to record for ``cfg`` (see the class doc); also sets ``gsd_cm`` and ``source``."""
        import json
        if self._resolved:
            return self.gsd_cm
        self._resolved = True
        found = {}
        for root in train_data_roots(cfg):
            path = find_summary(root)
            if path is None:
                continue
            try:
                gsd = summary_train_gsd_cm(json.loads(path.read_text()))
            except (OSError, ValueError):
                gsd = None
            if gsd is not None:
                found[str(path)] = gsd
        values = sorted(found.values())
        if values and values[-1] / values[0] <= 1.01:
            self.gsd_cm, self.source = values[len(values) // 2], ', '.join(found)
        elif values:
            self.source = f'summaries disagree: {found}'
        return self.gsd_cm

    def before_train(self, runner) -> None:
        gsd = self.resolve(runner.cfg)
        if gsd is not None:
            print_log(f'training GSD {gsd:g} cm/px (from {self.source}): recorded in the checkpoints\' '
                      f"meta['{GSD_META_KEY}']", logger='current')
        else:
            print_log('no training GSD known (no summary.json with a GSD found from the train data_root'
                      + (f'; {self.source}' if self.source else '') + '): the checkpoints will not record '
                      'the ground resolution', logger='current', level=30)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        gsd = self.resolve(runner.cfg)
        if gsd is not None:
            checkpoint.setdefault('meta', {})[GSD_META_KEY] = float(gsd)
