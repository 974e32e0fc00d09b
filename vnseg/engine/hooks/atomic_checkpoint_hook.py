"""A CheckpointHook whose checkpoints survive a kill at any moment."""
import os
import os.path as osp
import re

from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

from vnseg.core.atomic import atomic_write_bytes

#: Temporary files of an interrupted atomic write (:func:`vnseg.core.atomic.partial_path`).
_PARTIAL = re.compile(r'^\..+\.partial-(\d+)(\.[^.]*)?$')


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's :class:`CheckpointHook` (same arguments) made safe against a kill mid-save.

    With it, a run killed at any moment (SIGKILL, out of memory, a pre-empted Slurm job) leaves
    the previous checkpoint loadable and ``--resume`` working:

    * every checkpoint file is written to a hidden temporary file and renamed over its final name
      once complete (fix 6 of :mod:`vnseg.openmmlab.compat` makes mmengine's local file writes atomic);
    * ``last_checkpoint`` (the file ``--resume`` reads) is replaced atomically too, only after the
      checkpoint it names is complete (mmengine truncates and rewrites it in place);
    * with ``max_keep_ckpts``, the oldest checkpoint is deleted only *after* the new one and
      ``last_checkpoint`` are written (mmengine deletes first: with ``max_keep_ckpts=1`` a kill
      during the save leaves ``last_checkpoint`` naming a deleted file);
    * temporary files that a killed run left in the output folder are removed before training.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and isinstance(self.file_backend, LocalBackend):
            remove_stale_partials(self.out_dir)

    def _save_checkpoint_with_step(self, runner, step, meta):
        expired = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            # (a step already saved by _save_checkpoint is saved again by _save_best_checkpoint)
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                expired.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir, filename, self.file_client_args, save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
            backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        atomic_write_bytes(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt.encode(), fsync=True)
        for old in expired:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # DeepSpeed saves a folder per checkpoint
                self.file_backend.rmtree(path)


def remove_stale_partials(folder) -> list:
    """Delete the temporary files of interrupted atomic writes in ``folder`` whose writing process
    is gone; return their paths."""
    removed = []
    if not osp.isdir(folder):
        return removed
    for name in os.listdir(folder):
        match = _PARTIAL.match(name)
        if not match or _process_alive(int(match.group(1))):
            continue
        path = osp.join(folder, name)
        try:
            os.remove(path)
            removed.append(path)
        except OSError:
            pass
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
