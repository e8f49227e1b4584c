"""django-q2 entry points: ids in, everything else re-read from the database."""

from runs.engine import execute, sweeper


def run_chunk(run_id: int, chunk: int) -> dict:
    return execute.run_chunk(run_id, chunk)


def sweep() -> dict:
    return sweeper.sweep()
