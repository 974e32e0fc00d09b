"""Process-group helpers for the tools."""
import torch.distributed as dist


def shutdown_distributed():
    """Leave the process group together at the end of a distributed run (no-op otherwise).

    mmengine never destroys the group; a rank that exits first can then abort its peers' gloo /
    NCCL threads ("terminate called without an active exception").
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
