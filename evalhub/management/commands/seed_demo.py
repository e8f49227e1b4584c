"""Load the demo: an org with three users, a support Q&A dataset, a config, a pipeline, a
prompt, an agent and a finished run.

What to create is data (``evalhub/demo/acme.json`` and the records in
``evalhub/demo/support_qa.jsonl``); this command only walks it, through the
same services the pages use. Idempotent: every object is looked up by its
natural key first (username, org slug, name within the org), so running it
again changes nothing and says what was already there. A new step is one
more method called from :meth:`Command.handle`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from datasets.models import Dataset
from datasets.services import dataset_create, dataset_import
from evalhub.models import Membership, Organization, Workspace
from runs.definitions import agent_create, config_create, prompt_create, report_create
from runs.metrics import REGISTRY
from runs.models import Agent, EvalConfig, LanguageModel, Prompt, Report, Run

DEMO = Path(__file__).resolve().parents[2] / "demo"
BASELINE_ALIAS = "demo-baseline"


@dataclass
class Demo:
    owner: object
    organization: Organization
    workspace: Workspace

    @property
    def placement(self) -> dict:
        return {"organization": self.organization, "workspace": self.workspace}


class Command(BaseCommand):
    help = (
        "Create the demo organization, users (demo/demo, analyst/analyst, viewer/viewer), "
        "dataset, eval config, pipeline, prompt, agent and a finished run; "
        "anything already present is left as it is."
    )

    def handle(self, *args, **options):
        self.created: list[str] = []
        self.present: list[str] = []
        spec = json.loads((DEMO / "acme.json").read_text(encoding="utf-8"))
        with transaction.atomic():
            demo = self.tenancy(spec)
            self.models(spec["models"])
            datasets = {d["name"]: self.dataset(demo, d) for d in spec["datasets"]}
            configs = {c["name"]: self.config(demo, c, datasets) for c in spec["eval_configs"]}
            for report in spec["reports"]:
                self.pipeline(demo, report, datasets, configs)
            for prompt in spec["prompts"]:
                self.prompt(demo, prompt)
            for agent in spec["agents"]:
                self.agent(demo, agent)
        # After commit: the run engine enqueues its work on commit.
        self.finished_run(demo.owner, datasets[spec["datasets"][0]["name"]])
        self.summary()

    # --- bookkeeping ----------------------------------------------------------------

    def note(self, what: str, created: bool) -> None:
        (self.created if created else self.present).append(what)

    def summary(self) -> None:
        if self.created:
            self.stdout.write(self.style.SUCCESS("Created: " + "; ".join(self.created)))
        if self.present:
            self.stdout.write("Already present: " + "; ".join(self.present))
        if not self.created:
            self.stdout.write("Demo data already present; nothing changed.")

    def metrics(self, entries: list[dict]) -> list[dict]:
        """The entries whose metric this installation has (the registry may grow or shrink)."""
        kept = [e for e in entries if str(e["metric"]) in REGISTRY]
        for entry in entries:
            if entry not in kept:
                self.stderr.write(f"Skipping metric {entry['metric']}: not in the registry.")
        return kept

    # --- steps ------------------------------------------------------------------------

    def tenancy(self, spec: dict) -> Demo:
        User = get_user_model()
        org_spec = spec["organization"]
        org, created = Organization.objects.get_or_create(
            slug=org_spec["slug"],
            defaults={
                "name": org_spec["name"],
                "monthly_budget_usd": Decimal(org_spec["monthly_budget_usd"]),
            },
        )
        self.note(f"organization {org.name}", created)
        users = {}
        for user_spec in spec["users"]:
            username = user_spec["username"]
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "email": f"{username}@acme.example",
                    "is_staff": user_spec["superuser"],
                    "is_superuser": user_spec["superuser"],
                },
            )
            if created:
                user.set_password(user_spec["password"])
                user.save(update_fields=["password"])
            _, joined = Membership.objects.get_or_create(
                user=user, organization=org, defaults={"role": user_spec["role"]}
            )
            self.note(f"user {username} ({user_spec['role']})", created or joined)
            users[user_spec["role"]] = user
        workspace, created = Workspace.objects.get_or_create(
            name=spec["workspace"]["name"],
            organization=org,
            defaults={"description": spec["workspace"]["description"]},
        )
        self.note(f"workspace {workspace.name}", created)
        return Demo(owner=users["owner"], organization=org, workspace=workspace)

    def models(self, entries: list[dict]) -> None:
        for entry in entries:
            _, created = LanguageModel.objects.get_or_create(
                slug=entry["slug"],
                defaults={
                    "display_name": entry["display_name"],
                    "input_price_per_mtok": Decimal(entry["input_price_per_mtok"]),
                    "output_price_per_mtok": Decimal(entry["output_price_per_mtok"]),
                },
            )
            self.note(f"model {entry['slug']}", created)

    def dataset(self, demo: Demo, entry: dict) -> Dataset:
        dataset = Dataset.objects.filter(name=entry["name"], organization=demo.organization).first()
        created = dataset is None
        if created:
            dataset = dataset_create(
                actor=demo.owner,
                name=entry["name"],
                description=entry["description"],
                selected_metrics=self.metrics(entry["selected_metrics"]),
                source="demo",
                **demo.placement,
            )
        if dataset.latest_version() is None:
            with (DEMO / entry["file"]).open("rb") as records:
                version = dataset_import(
                    actor=demo.owner,
                    dataset=dataset,
                    fileobj=records,
                    filename=entry["file"],
                    source="demo",
                )
            self.note(f"dataset {dataset.name} ({version.record_count} records)", True)
        else:
            self.note(f"dataset {dataset.name}", False)
        return dataset

    def config(self, demo: Demo, entry: dict, datasets: dict) -> EvalConfig:
        config = EvalConfig.objects.filter(
            name=entry["name"], organization=demo.organization
        ).first()
        if config is None:
            config = config_create(
                actor=demo.owner,
                name=entry["name"],
                dataset=datasets[entry["dataset"]],
                description=entry["description"],
                threshold=entry["threshold"],
                metrics=self.metrics(entry["metrics"]),
                source="demo",
                **demo.placement,
            ).config
            self.note(f"eval config {config.name}", True)
        else:
            self.note(f"eval config {config.name}", False)
        return config

    def pipeline(self, demo: Demo, entry: dict, datasets: dict, configs: dict) -> None:
        exists = Report.objects.filter(
            name=entry["name"], organization=demo.organization, kind=Report.Kind.PIPELINE
        ).exists()
        if not exists:
            report_create(
                actor=demo.owner,
                name=entry["name"],
                dataset=datasets[entry["dataset"]],
                eval_config=configs[entry["eval_config"]],
                source="demo",
                **demo.placement,
            )
        self.note(f"report pipeline {entry['name']}", not exists)

    def prompt(self, demo: Demo, entry: dict) -> None:
        exists = Prompt.objects.filter(name=entry["name"], organization=demo.organization).exists()
        if not exists:
            prompt_create(
                actor=demo.owner,
                name=entry["name"],
                template=entry["template"],
                model=entry["model"],
                params=entry.get("params"),
                source="demo",
                **demo.placement,
            )
        self.note(f"prompt {entry['name']}", not exists)

    def agent(self, demo: Demo, entry: dict) -> None:
        exists = Agent.objects.filter(name=entry["name"], organization=demo.organization).exists()
        if not exists:
            agent_create(
                actor=demo.owner,
                name=entry["name"],
                kind=entry["kind"],
                model=entry["model"],
                system_prompt=entry["system_prompt"],
                source="demo",
                **demo.placement,
            )
        self.note(f"agent {entry['name']}", not exists)

    def finished_run(self, owner, dataset: Dataset) -> None:
        """One finished run, so the pages have results from the first minute."""
        from runs.engine.execute import run_chunk
        from runs.services import run_create_from_dataset

        if Run.objects.filter(owner=owner, alias=BASELINE_ALIAS).exists():
            self.note(f"finished run {BASELINE_ALIAS}", False)
            return
        run = run_create_from_dataset(
            actor=owner,
            dataset=dataset,
            alias=BASELINE_ALIAS,
            threshold=70,
            source=Run.Source.DEMO,
        )
        # Score it here so the demo is complete before the worker starts; the
        # queued chunk tasks then find nothing left to do (they are idempotent).
        for chunk in sorted(set(run.items.values_list("chunk", flat=True))):
            run_chunk(run.pk, chunk)
        run.refresh_from_db()
        self.note(f"finished run {BASELINE_ALIAS} ({run.status}, pass rate {run.pass_rate}%)", True)
