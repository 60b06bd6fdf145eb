"""The legitimate clients keep working behind every check: the official openai client,
as a script would use it against http://127.0.0.1:PORT/foundry/v1."""

from __future__ import annotations

import openai

from tests.security.conftest import Hearth
from tests.security.upstream import KEY, MODEL, FakeUpstream


def test_the_openai_client_streams_and_lists_models(hearth: Hearth, fake: FakeUpstream) -> None:
    client = openai.OpenAI(base_url=hearth.url + "foundry/v1", api_key="not-the-key", max_retries=0)
    try:
        assert [model.id for model in client.models.list()] == [MODEL]
        assert client.models.retrieve(MODEL).id == MODEL
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hello?"}], stream=True
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    finally:
        client.close()
    assert text == "Hello from the fake"
    assert fake.paths() == ["/v1/models", f"/v1/models/{MODEL}", "/v1/chat/completions"]
    assert {seen.headers["Authorization"] for seen in fake.seen} == {f"Bearer {KEY}"}
