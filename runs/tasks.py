"""django-q2 entry points: ids in, everything else re-read from the database."""

from runs.engine import execute, sweeper


def run_chunk(run_id: int, chunk: int) -> dict:
    return execute.run_chunk(run_id, chunk)


def sweep() -> dict:
    return sweeper.sweep()


def warm_worker(**kwargs) -> None:
    """When django-q2 spawns a worker: import what a chunk needs (the HTTP
    client, the providers, the metrics), so the first chunk of the first run
    doesn't pay for it (about 0.1 s, on the run's critical path)."""
    import runs.engine.pipeline
    import runs.metrics
    import runs.providers.openai_compat
    import runs.providers.session  # noqa: F401
