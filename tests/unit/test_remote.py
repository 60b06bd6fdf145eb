"""The remote backend over the official openai client, against a fake OpenAI-compatible
server whose replies (and misbehaviour) the test scripts."""

from __future__ import annotations

import httpx
import openai
import pytest

from pyapp.backends import ReplyOptions
from pyapp.errors import RemoteError
from pyapp.remote import RemoteBackend, explain
from pyapp.stats import StopReason
from pyapp.templates import Message, Role
from tests.conftest import run_async
from tests.support.fake_openai import MODEL, Reply, fake_openai

QUESTION = [Message(Role.SYSTEM, "Be brief."), Message(Role.USER, "Capital of France?")]


async def collect(url: str, options: ReplyOptions | None = None) -> tuple[list[str], RemoteBackend]:
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    backend = RemoteBackend(client, MODEL)
    pieces: list[str] = []
    try:
        async for piece in backend.reply(QUESTION, options or ReplyOptions(), lambda: False):
            pieces.append(piece)
    finally:
        await client.close()
    return pieces, backend


def test_streams_the_reply_and_sends_the_conversation() -> None:
    with fake_openai(lambda request: Reply(["The capital", " is Paris."])) as fake:
        pieces, backend = run_async(collect(fake.url, ReplyOptions(temperature=0, seed=3)))
    assert pieces == ["The capital", " is Paris."]
    (request,) = fake.chats()
    assert request["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert (request["temperature"], request["seed"], request["stream"]) == (0, 3, True)
    stats = backend.last_stats
    assert stats is not None and stats.reason == StopReason.EOS
    # no usage was sent: token figures stay unknown instead of counting chunks
    assert stats.generated_tokens is None and stats.decode_tok_s is None


def test_token_figures_come_from_the_servers_usage() -> None:
    with fake_openai(lambda request: Reply(["a", "b", "c"], usage=7)) as fake:
        _, backend = run_async(collect(fake.url))
    assert backend.last_stats is not None and backend.last_stats.generated_tokens == 7


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply(["The capital"], cut=True), "connection"),
        (Reply(["The capital"], finish=None), "ended the stream"),
        (Reply(["The capital"], malformed=True), "not a valid reply"),
    ],
)
def test_a_broken_stream_raises_after_the_text_that_arrived(reply: Reply, words: str) -> None:
    pieces, error = broken(reply)
    assert pieces == ["The capital"]
    assert words in str(error)


def test_an_answer_with_no_event_at_all_is_not_taken_for_a_cut_reply() -> None:
    pieces, error = broken(Reply([], finish=None))
    assert pieces == [] and str(error).startswith("The server's answer held no reply")


def broken(reply: Reply) -> tuple[list[str], RemoteError]:
    """What a backend streamed from `reply`, and the error it ended with (a stream that
    did not end as a reply is never taken for a complete one)."""

    async def run(url: str) -> tuple[list[str], RemoteBackend, RemoteError]:
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        backend = RemoteBackend(client, MODEL)
        pieces: list[str] = []
        try:
            async for piece in backend.reply(QUESTION, ReplyOptions(), lambda: False):
                pieces.append(piece)
        except RemoteError as error:
            return pieces, backend, error
        finally:
            await client.close()
        raise AssertionError("the broken stream was taken for a complete reply")

    with fake_openai(lambda request: reply) as fake:
        pieces, backend, error = run_async(run(fake.url))
    assert backend.last_stats is not None
    assert backend.last_stats.reason == StopReason.INTERRUPTED
    return pieces, error


def test_an_unreachable_server_says_so() -> None:
    async def run() -> RemoteError:
        client = openai.AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="x", max_retries=0)
        try:
            async for _ in RemoteBackend(client, MODEL).reply(
                QUESTION, ReplyOptions(), lambda: False
            ):
                pass
        except RemoteError as error:
            return error
        finally:
            await client.close()
        raise AssertionError("no error")

    error = run_async(run())
    assert error.unreachable and "serve.py" in str(error)


def test_an_error_event_in_the_stream_is_the_servers_own_words() -> None:
    """serve.py ends a stream its upstream broke off with such an event (see
    hearth_server/handler.py); it reads as the upstream being out of reach."""
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    said = {
        "message": "http://127.0.0.1:9 stopped answering mid-reply.",
        "type": "upstream_broke_off",
    }
    error = explain(openai.APIError("x", request, body=said))
    assert str(error) == said["message"] and error.unreachable
    other = explain(openai.APIError("x", request, body={"message": "Model overloaded"}))
    assert str(other) == "Model overloaded" and not other.unreachable
