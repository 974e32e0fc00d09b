"""Peak memory of this process, for the memory tests and the benchmarks' RSS columns."""
import resource

__all__ = ['peak_rss_mb', 'rss_mb', 'reset_peak_rss']

_STATUS = '/proc/self/status'


def _status_mb(key: str):
    try:
        with open(_STATUS) as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """Peak resident memory of this process since it started (or since :func:`reset_peak_rss`), in MiB.

    Linux's ``VmHWM``, not ``getrusage(RUSAGE_SELF).ru_maxrss``: a process started by ``subprocess``
    (vfork + exec) inherits its parent's peak in ``ru_maxrss``, so a child of a large test or
    benchmark process would report the parent's memory as its own. ``ru_maxrss`` only where ``/proc``
    is missing.

    Example:
        >>> from vnseg.testing.memory import peak_rss_mb
        >>> peak_rss_mb() > 0
        True
    """
    peak = _status_mb('VmHWM')
    if peak is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return peak


def rss_mb() -> float:
    """Resident memory of this process now, in MiB (Linux ``VmRSS``)."""
    now = _status_mb('VmRSS')
    if now is None:
        raise OSError(f'{_STATUS} is not readable: the resident memory is known on Linux only')
    return now


def reset_peak_rss() -> None:
    """Start :func:`peak_rss_mb` again from the current resident memory (Linux ``clear_refs``), so that a
    measurement leaves out what imports took before it."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
