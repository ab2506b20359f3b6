"""The engine core: ``EngineCore`` (prepare -> stream), ``SynthesisStream``, ``RequestPolicy``.

See docs/architecture.md (layers): the core knows the frontend, voices, models, scheduler and energy,
and nothing that runs above it (enrollment, jobs, servers).
"""
