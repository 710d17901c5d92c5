"""The OpenAI-compatible backend against a scripted local HTTP server (no network)."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from govsim.llm import Constraint, LLMError, Request, Sampling
from govsim.llm.openai_backend import OpenAILLM


class Server:
    """Answers /v1/chat/completions with the next scripted status (then 200s)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.bodies.append(body)
                status = server.statuses.pop(0) if server.statuses else 200
                reply = completion(body) if status == 200 else {"error": {"message": f"status {status}"}}
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def completion(body: dict) -> dict:
    structured = body.get("structured_outputs") or {}
    text = structured["choice"][-1] if "choice" in structured else "Answer: 7"
    return {
        "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }


@pytest.fixture
def server(request):
    srv = Server(getattr(request, "param", []))
    yield srv
    srv.close()


def ask(**kw) -> Request:
    return Request(messages=({"role": "user", "content": "How many?"},), sampling=Sampling(temperature=0, max_tokens=9), **kw)


def run(llm: OpenAILLM, *requests: Request):
    async def main():
        try:
            return await asyncio.gather(*(llm.complete(r) for r in requests))
        finally:
            await llm.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("server", [[503, 500]], indirect=True)
def test_retries_transient_errors_then_answers(server):
    (out,) = run(OpenAILLM("m", base_url=server.url, backoff_s=0.01), ask())
    assert out.text == "Answer: 7" and out.prompt_tokens == 11 and out.completion_tokens == 3
    assert len(server.bodies) == 3
    assert server.bodies[0]["max_tokens"] == 9 and "seed" not in server.bodies[0]


@pytest.mark.parametrize("server", [[503] * 5], indirect=True)
def test_gives_up_with_one_line_error(server):
    with pytest.raises(LLMError, match=r"HTTP 503 after 3 attempts") as info:
        run(OpenAILLM("m", base_url=server.url, retries=2, backoff_s=0.01), ask())
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("server", [[400]], indirect=True)
def test_does_not_retry_bad_requests(server):
    with pytest.raises(LLMError, match="HTTP 400"):
        run(OpenAILLM("m", base_url=server.url, backoff_s=0.01), ask())
    assert len(server.bodies) == 1


def test_sends_constraints_as_vllm_structured_outputs_and_adapter_as_model(server):
    llm = OpenAILLM("base", base_url=server.url)
    choice, regex = run(
        llm, ask(constraint=Constraint(choice=("3", "5"))), ask(constraint=Constraint(regex=r"Answer: \d+"), adapter="kate-lora")
    )
    bodies = sorted(server.bodies, key=lambda b: b["model"])
    assert bodies[0]["structured_outputs"] == {"choice": ["3", "5"]} and bodies[0]["model"] == "base"
    assert bodies[1]["structured_outputs"] == {"regex": r"Answer: \d+"} and bodies[1]["model"] == "kate-lora"
    assert choice.text == "5" and choice.constrained and regex.constrained


def test_without_structured_outputs_nothing_is_claimed(server):
    (out,) = run(OpenAILLM("m", base_url=server.url, structured_outputs=False), ask(constraint=Constraint(choice=("3", "5"))))
    assert "structured_outputs" not in server.bodies[0] and not out.constrained


def test_needs_a_key_for_the_real_api(monkeypatch):
    monkeypatch.delenv("GOVSIM_TEST_KEY", raising=False)
    with pytest.raises(LLMError, match="GOVSIM_TEST_KEY"):
        OpenAILLM("gpt-4o-mini", api_key_env="GOVSIM_TEST_KEY")


def test_min_tokens_goes_to_a_vllm_server_and_is_refused_by_openais_api(server, monkeypatch):
    at_least = Request(messages=({"role": "user", "content": "Talk."},), sampling=Sampling(max_tokens=9, min_tokens=9))
    run(OpenAILLM("m", base_url=server.url), at_least, ask())
    assert sorted(b.get("min_tokens", 0) for b in server.bodies) == [0, 9]  # sent only when set
    monkeypatch.setenv("GOVSIM_TEST_KEY", "sk-test")
    with pytest.raises(LLMError, match="OpenAI's API has no min_tokens"):
        run(OpenAILLM("gpt-4o-mini", api_key_env="GOVSIM_TEST_KEY"), at_least)
