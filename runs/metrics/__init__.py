"""The metric library: a registry of metrics with typed arguments.

Importing this package registers every metric family. Ids are stable and
never reused: seed 004 addresses metrics by id (1 = json_equal, 2 = exact_match).
"""

from runs.metrics import deterministic, judge, statistical  # noqa: F401  (registration)
from runs.metrics.base import (
    NO_DEFAULT,
    REGISTRY,
    Arg,
    Metric,
    MetricResult,
    Sample,
    all_metrics,
    get_metric,
)
from runs.metrics.judge import JudgeMetric, JudgeResponseError

__all__ = [
    "NO_DEFAULT",
    "REGISTRY",
    "Arg",
    "JudgeMetric",
    "JudgeResponseError",
    "Metric",
    "MetricResult",
    "Sample",
    "all_metrics",
    "get_metric",
]
