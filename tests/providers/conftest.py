"""One real fake-LLM server per test module, reset before each test.

Module scope keeps the port and thread for the whole module (starting one is
cheap but not free); resetting per test keeps tests independent of order.
"""

import asyncio

import pytest

from runs.providers import Endpoint, make_session
from tests.fakellm import FakeLLM, running_fake_llm


@pytest.fixture(scope="module")
def fake_server():
    with running_fake_llm() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeLLM) -> FakeLLM:
    fake_server.reset()
    return fake_server


@pytest.fixture
def endpoint(fake: FakeLLM) -> Endpoint:
    return Endpoint(base_url=fake.url, api_key="sk-test", model="judge-1", timeout=5.0)


@pytest.fixture
def run():
    """Run ``scenario(session)`` on a fresh event loop with a fresh session.

    pytest-asyncio is not a dependency; one loop per test is also how the
    engine uses these clients (one loop per chunk task).
    """

    def run_scenario(scenario, *, limit: int = 10):
        async def main():
            async with make_session(limit=limit) as session:
                return await scenario(session)

        return asyncio.run(main())

    return run_scenario
