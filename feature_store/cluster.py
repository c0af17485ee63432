"""A SLURM cluster for ``booster cache`` (dask-jobqueue): scale by jobs, one single-threaded worker
process per core.

Why one thread per process: extraction is torch code, and torch's thread count is per process, so
several Dask threads in one worker would share (and fight over) the same intra-op pool; processes do
not. Site settings (queue, account, memory, walltime, interface, ...) come from dask-jobqueue's own
configuration (``~/.config/dask/jobqueue.yaml``, section ``jobqueue.slurm``) or keyword arguments.
"""

from __future__ import annotations


def slurm_cluster(jobs: int = 0, **options):
    """A ``dask_jobqueue.SLURMCluster`` whose every job runs ``cores`` worker processes of one thread,
    scaled to ``jobs`` jobs (0: none yet; call ``cluster.scale(jobs=...)`` or ``adapt`` later).
    ``options`` go to ``SLURMCluster`` (``cores``, ``memory``, ``queue``, ``account``, ``walltime``...);
    ``cores`` and ``memory`` may come from the jobqueue configuration instead."""
    try:
        import dask
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ImportError("the SLURM recipe needs dask-jobqueue: pip install 'mfm-booster[cluster]'") from None
    cores = options.pop("cores", None) or dask.config.get("jobqueue.slurm.cores", None)
    if not cores:
        raise ValueError("cores per SLURM job: pass cores=N or set jobqueue.slurm.cores in the dask config")
    options.pop("processes", None)
    cluster = SLURMCluster(cores=int(cores), processes=int(cores), **options)
    if jobs:
        cluster.scale(jobs=jobs)
    return cluster
