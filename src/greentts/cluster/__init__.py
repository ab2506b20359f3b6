"""Running greentts on a cluster: batch jobs on Ray (:mod:`greentts.cluster.ray_batch`).

This layer sits above :class:`greentts.Engine`: each Ray actor builds its own engine.
"""
