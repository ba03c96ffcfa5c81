"""The official Anthropic Python SDK against a running `aimos serve`'s /v1/messages.

Environment: AIMOS_BASE_URL (the server's root, without /v1), AIMOS_KEY (a key with budget),
AIMOS_POOR_KEY (a key whose budget is spent), AIMOS_MODEL (a model served by name). Prints
`ok NAME` per check and exits non-zero at the first failure.
"""

import os
import sys
import time

import anthropic

base_url = os.environ["AIMOS_BASE_URL"]
model = os.environ["AIMOS_MODEL"]
client = anthropic.Anthropic(base_url=base_url, api_key=os.environ["AIMOS_KEY"])
question = [{"role": "user", "content": "What is the capital of France?"}]


def check(name, condition, detail=""):
    if not condition:
        print(f"FAILED {name}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok {name}", flush=True)


reply = client.messages.create(model=model, messages=question, max_tokens=8, extra_body={"temperature": 0},
                               system="Answer briefly.")
text = reply.content[0].text
check("plain", reply.type == "message" and reply.role == "assistant" and text
      and reply.usage.output_tokens <= 8 and reply.usage.input_tokens > 0, reply)
check("stop reason", reply.stop_reason in ("end_turn", "max_tokens"), reply.stop_reason)

with client.messages.stream(model=model, messages=question, max_tokens=8, extra_body={"temperature": 0},
                            system="Answer briefly.") as stream:
    pieces = list(stream.text_stream)
    final = stream.get_final_message()
check("streaming", "".join(pieces) == text and final.content[0].text == text, (pieces, text))
check("streaming usage", final.usage.output_tokens == reply.usage.output_tokens
      and final.stop_reason == reply.stop_reason, final)

blocks = client.messages.create(
    model=model, max_tokens=8, extra_body={"temperature": 0},
    messages=[{"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}],
)
check("content blocks", blocks.content[0].text, blocks)

raw = client.messages.with_raw_response.create(
    model="aimos/consult", max_tokens=60, system="You help with Python code.",
    messages=[{"role": "user", "content": "def add(a, b): return a - b\n\nWhy does add(2, 3) return -1? Fix it."}],
)
run_id = raw.headers.get("x-aimos-run-id")
consult = raw.parse()
check("pipeline", run_id and consult.content[0].text, (run_id, consult))

with client.messages.stream(
    model="aimos/consult", max_tokens=40,
    messages=[{"role": "user", "content": "def add(a, b): return a - b\n\nWhy does add(2, 3) return -1?"}],
) as stream:
    streamed = "".join(stream.text_stream)
check("pipeline streamed", streamed, streamed)

try:
    client.messages.create(model=model, messages=[], max_tokens=4)
    check("bad request", False, "no error")
except anthropic.BadRequestError as err:
    check("bad request", err.status_code == 400 and "messages" in str(err)
          and err.body["error"]["type"] == "invalid_request_error", err)

try:
    client.messages.create(model="no-such-model", messages=question, max_tokens=4)
    check("unknown model", False, "no error")
except anthropic.NotFoundError as err:
    check("unknown model", err.status_code == 404 and "no-such-model" in str(err), err)

try:
    anthropic.Anthropic(base_url=base_url, api_key="aimos-wrong").messages.create(
        model=model, messages=question, max_tokens=4)
    check("bad key", False, "no error")
except anthropic.AuthenticationError as err:
    check("bad key", err.status_code == 401 and err.body["error"]["type"] == "authentication_error", err)

poor = anthropic.Anthropic(base_url=base_url, api_key=os.environ["AIMOS_POOR_KEY"])
started = time.monotonic()
try:
    poor.messages.create(model=model, messages=question, max_tokens=4)
    check("budget exhausted", False, "no error")
except anthropic.RateLimitError as err:
    took = time.monotonic() - started
    check("budget exhausted", "spent its budget" in str(err), err)
    # x-should-retry: false keeps the SDK from retrying (its backoff would take ≥ 0.5 s).
    check("budget not retried", took < 0.4, took)
