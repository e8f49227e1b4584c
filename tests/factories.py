"""factory_boy factories for the domain; tests build exactly what they need."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from datasets.models import Dataset, DatasetMetric, DatasetVersion, LoggedRequest, Record
from evalhub.models import Membership, Organization, Role, Workspace
from runs.models import (
    Agent,
    EvalConfig,
    EvalConfigMetric,
    EvalConfigVersion,
    LanguageModel,
    Metric,
    Prompt,
    PromptVersion,
    Report,
    Run,
    RunItem,
    RunMetric,
    Score,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.MEMBER


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    organization = factory.SubFactory(OrganizationFactory)


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    name = factory.Sequence(lambda n: f"Dataset {n}")
    owner = factory.SubFactory(UserFactory)


class DatasetVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DatasetVersion

    dataset = factory.SubFactory(DatasetFactory)
    number = factory.Sequence(lambda n: n + 1)


class RecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Record

    version = factory.SubFactory(DatasetVersionFactory)
    index = factory.Sequence(lambda n: n)
    input = factory.LazyAttribute(lambda r: {"question": f"What is {r.index} + 1?"})
    expected_output = factory.LazyAttribute(lambda r: str(r.index + 1))
    actual_output = factory.LazyAttribute(lambda r: str(r.index + 1))


class DatasetMetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DatasetMetric

    dataset = factory.SubFactory(DatasetFactory)
    metric = factory.LazyFunction(lambda: Metric.objects.get(slug="exact_match"))


class LoggedRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoggedRequest

    owner = factory.SubFactory(UserFactory)
    model = "gpt-4o-mini"
    prompt = factory.Sequence(lambda n: f"Question {n}?")
    response = factory.Sequence(lambda n: f"Answer {n}.")


class LanguageModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LanguageModel
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"model-{n}")


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    name = factory.Sequence(lambda n: f"Prompt {n}")
    owner = factory.SubFactory(UserFactory)


class PromptVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PromptVersion

    prompt = factory.SubFactory(PromptFactory)
    number = factory.Sequence(lambda n: n + 1)
    template = "Answer briefly: {{ question }}"


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    name = factory.Sequence(lambda n: f"Agent {n}")
    owner = factory.SubFactory(UserFactory)


class EvalConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EvalConfig

    name = factory.Sequence(lambda n: f"Config {n}")
    owner = factory.SubFactory(UserFactory)


class EvalConfigVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EvalConfigVersion

    config = factory.SubFactory(EvalConfigFactory)
    number = factory.Sequence(lambda n: n + 1)


class EvalConfigMetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EvalConfigMetric

    version = factory.SubFactory(EvalConfigVersionFactory)
    metric = factory.LazyFunction(lambda: Metric.objects.get(slug="exact_match"))


class ReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Report

    name = factory.Sequence(lambda n: f"Report {n}")
    owner = factory.SubFactory(UserFactory)


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Run {n}")


class RunMetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RunMetric

    run = factory.SubFactory(RunFactory)
    metric = factory.LazyFunction(lambda: Metric.objects.get(slug="exact_match"))
    label = factory.Sequence(lambda n: f"metric_{n}")


class RunItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RunItem

    run = factory.SubFactory(RunFactory)
    record = factory.SubFactory(RecordFactory)
    index = factory.Sequence(lambda n: n)


class ScoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Score

    item = factory.SubFactory(RunItemFactory)
    run_metric = factory.SubFactory(RunMetricFactory)
    value = 1.0
    passed = True
