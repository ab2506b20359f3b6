"""Runtime: scheduler and audio post-processing."""
