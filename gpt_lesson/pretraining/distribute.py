"""Choosing a ``tf.distribute`` strategy by name, and where each worker writes.

Keras ``fit`` runs data-parallel under any strategy: the model and optimizer are built
under ``strategy.scope()``, each global batch is split across the replicas, and the
gradients are summed across them before every update. The same training code therefore
runs on one device, on several GPUs of one machine, or on several machines:

- ``default``: one device (a GPU if TensorFlow sees one, else the CPU);
- ``mirrored``: ``MirroredStrategy``, one replica per local GPU (all-reduce with NCCL);
- ``multiworker``: ``MultiWorkerMirroredStrategy``, one process per machine (or per
  GPU), told about the others by the ``TF_CONFIG`` environment variable.

A strategy must be made before TensorFlow runs anything else in the process
(``multiworker`` configures collective ops at start-up), so make it first.
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy called ``name`` (one of ``STRATEGIES``)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "The multiworker strategy reads the cluster from TF_CONFIG, which is not set. "
                'Set it on every machine, e.g. TF_CONFIG=\'{"cluster": {"worker": '
                '["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\' '
                "(index 1 on the second machine), or use --strategy mirrored on one machine."
            )
        return MultiWorkerMirroredStrategy()
    raise ValueError(f"Unknown strategy {name!r}; use one of: {', '.join(STRATEGIES)}.")


class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """TensorFlow's multi-worker strategy, with a ``reduce`` that Keras 3's ``fit`` can use.

    ``fit`` (Keras 3.15) fails at once under the plain strategy (keras-team/keras#20585):
    it reduces a whole (inputs, labels) batch in one call, and the per-batch scalar logs
    along axis 0, and the collective ``reduce`` takes neither. This one reduces each
    value of a structure on its own, and a scalar without an axis.
    """

    def reduce(self, reduce_op, value, axis):
        parent = super()

        def reduce_one(one):
            rank = self.experimental_local_results(one)[0].shape.rank
            return parent.reduce(reduce_op, one, axis if rank else None)

        return tf.nest.map_structure(reduce_one, value)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the process that writes the run folder: the only one, the ``chief``, or
    worker 0 of a cluster without a chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def run_folder(folder: Path, strategy: tf.distribute.Strategy) -> Path:
    """Where this process writes: ``folder`` for the chief, ``folder/worker-N`` for the others.

    Every worker saves its own checkpoints and resume state (they are identical, since all
    replicas hold the same weights); giving them separate folders keeps two processes
    from writing the same file on a shared disk.
    """
    if is_chief(strategy):
        return folder
    return folder / f"worker-{strategy.cluster_resolver.task_id}"
