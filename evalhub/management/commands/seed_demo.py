"""Load the demo: an org with three users, a support Q&A dataset, a config, a pipeline and a finished run.

Idempotent: every object is looked up by its natural key first, so running it
again changes nothing.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from datasets.models import Dataset
from datasets.services import dataset_create, dataset_import
from evalhub.models import Membership, Organization, Role, Workspace
from runs.definitions import agent_create, config_create, prompt_create, report_create
from runs.models import Agent, EvalConfig, LanguageModel, Prompt, Report, Run

DEMO = Path(__file__).resolve().parents[2] / "demo"
USERS = [
    ("demo", Role.OWNER, True),
    ("analyst", Role.MEMBER, False),
    ("viewer", Role.VIEWER, False),
]
MODELS = [
    ("gpt-4o-mini", "GPT-4o mini", "0.15", "0.60"),
    ("gpt-4o", "GPT-4o", "2.50", "10.00"),
    ("claude-sonnet", "Claude Sonnet", "3.00", "15.00"),
]
DATASET = "Support QA"
CONFIG = "Support QA — deterministic"


class Command(BaseCommand):
    help = "Create (or leave as is) the demo organization, users, dataset, config, pipeline and a finished run."

    def handle(self, *args, **options):
        self.created = []
        with transaction.atomic():
            owner, org, workspace = self.tenancy()
            self.models()
            dataset = self.dataset(owner, org, workspace)
            config = self.config(owner, org, workspace, dataset)
            self.pipeline(owner, org, workspace, dataset, config)
            self.prompt_and_agent(owner, org, workspace)
        self.finished_run(owner, dataset)
        if self.created:
            self.stdout.write("Created: " + ", ".join(self.created))
        else:
            self.stdout.write("Demo data already present; nothing changed.")

    def note(self, what, created):
        if created:
            self.created.append(what)

    def tenancy(self):
        User = get_user_model()
        org, created = Organization.objects.get_or_create(
            slug="acme", defaults={"name": "Acme Support", "monthly_budget_usd": Decimal("100")}
        )
        self.note("organization Acme Support", created)
        users = {}
        for username, role, is_admin in USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "email": f"{username}@acme.example",
                    "is_staff": is_admin,
                    "is_superuser": is_admin,
                },
            )
            if created:
                user.set_password(username)
                user.save()
            self.note(f"user {username}", created)
            Membership.objects.get_or_create(user=user, organization=org, defaults={"role": role})
            users[username] = user
        workspace, created = Workspace.objects.get_or_create(
            name="Customer Support", organization=org
        )
        self.note("workspace Customer Support", created)
        return users["demo"], org, workspace

    def models(self):
        for slug, name, price_in, price_out in MODELS:
            _, created = LanguageModel.objects.get_or_create(
                slug=slug,
                defaults={
                    "display_name": name,
                    "input_price_per_mtok": Decimal(price_in),
                    "output_price_per_mtok": Decimal(price_out),
                },
            )
            self.note(f"model {slug}", created)

    def dataset(self, owner, org, workspace):
        dataset = Dataset.objects.filter(name=DATASET, organization=org).first()
        if dataset is None:
            dataset = dataset_create(
                actor=owner,
                name=DATASET,
                organization=org,
                workspace=workspace,
                description="Customer-support questions about Acme Cloud with reference and bot answers.",
                selected_metrics=[
                    {
                        "metric": "exact_match",
                        "args": {"case_sensitive": False, "ignore_punctuation": True},
                    },
                    {"metric": "levenshtein", "args": {"threshold": 0.8, "case_sensitive": False}},
                ],
                source="demo",
            )
            with (DEMO / "support_qa.jsonl").open("rb") as f:
                dataset_import(
                    actor=owner,
                    dataset=dataset,
                    fileobj=f,
                    filename="support_qa.jsonl",
                    source="demo",
                )
            self.note(f"dataset {DATASET} (50 records)", True)
        return dataset

    def config(self, owner, org, workspace, dataset):
        config = EvalConfig.objects.filter(name=CONFIG, organization=org).first()
        if config is None:
            version = config_create(
                actor=owner,
                name=CONFIG,
                organization=org,
                workspace=workspace,
                dataset=dataset,
                description="Cheap checks that need no model: exact match, edit distance and overlap.",
                threshold=70,
                metrics=[
                    {
                        "metric": "exact_match",
                        "args": {"case_sensitive": False, "ignore_punctuation": True},
                    },
                    {"metric": "levenshtein", "args": {"threshold": 0.8}},
                    {"metric": "rouge_l", "args": {"threshold": 0.5}},
                ],
                source="demo",
            )
            config = version.config
            self.note(f"eval config {CONFIG}", True)
        return config

    def pipeline(self, owner, org, workspace, dataset, config):
        if not Report.objects.filter(
            name="Support QA nightly", organization=org, kind="pipeline"
        ).exists():
            report_create(
                actor=owner,
                name="Support QA nightly",
                dataset=dataset,
                eval_config=config,
                organization=org,
                workspace=workspace,
                source="demo",
            )
            self.note("report pipeline Support QA nightly", True)

    def prompt_and_agent(self, owner, org, workspace):
        if not Prompt.objects.filter(name="Support answerer", organization=org).exists():
            prompt_create(
                actor=owner,
                name="Support answerer",
                template="You are Acme Cloud's support assistant. Answer briefly.\n\nQuestion: {{ question }}",
                model="gpt-4o-mini",
                params={"temperature": 0},
                organization=org,
                workspace=workspace,
                source="demo",
            )
            self.note("prompt Support answerer", True)
        if not Agent.objects.filter(name="Support bot", organization=org).exists():
            agent_create(
                actor=owner,
                name="Support bot",
                kind="model",
                model="gpt-4o-mini",
                system_prompt="You are Acme Cloud's support assistant. Answer in one or two sentences.",
                organization=org,
                workspace=workspace,
                source="demo",
            )
            self.note("agent Support bot", True)

    def finished_run(self, owner, dataset):
        """One finished run, so the pages have results from the first minute."""
        from runs.engine.execute import run_chunk
        from runs.services import run_create_from_dataset

        if Run.objects.filter(owner=owner, alias="demo-baseline").exists():
            return
        run = run_create_from_dataset(
            actor=owner,
            dataset=dataset,
            alias="demo-baseline",
            threshold=70,
            source=Run.Source.DEMO,
        )
        # Score it here so the demo is complete before the worker starts; the
        # queued chunk tasks then find nothing left to do (they are idempotent).
        for chunk in sorted(set(run.items.values_list("chunk", flat=True))):
            run_chunk(run.pk, chunk)
        run.refresh_from_db()
        self.note(f"finished run demo-baseline ({run.status}, pass rate {run.pass_rate}%)", True)
