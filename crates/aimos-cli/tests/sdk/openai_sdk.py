"""The official OpenAI Python SDK against a running `aimos serve`.

Environment: AIMOS_BASE_URL (…/v1), AIMOS_KEY (a key with budget), AIMOS_POOR_KEY (a key
whose budget is spent), AIMOS_MODEL (a model served by name). Prints `ok NAME` per check and
exits non-zero at the first failure.
"""

import os
import sys
import time

import openai

base_url = os.environ["AIMOS_BASE_URL"]
model = os.environ["AIMOS_MODEL"]
client = openai.OpenAI(base_url=base_url, api_key=os.environ["AIMOS_KEY"])
question = [{"role": "user", "content": "What is the capital of France?"}]


def check(name, condition, detail=""):
    if not condition:
        print(f"FAILED {name}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok {name}", flush=True)


reply = client.chat.completions.create(model=model, messages=question, max_tokens=8, temperature=0)
check("plain", reply.choices[0].message.content and reply.usage.completion_tokens <= 8, reply)

pieces, usage = [], None
stream = client.chat.completions.create(
    model=model, messages=question, max_tokens=8, temperature=0, stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
check("streaming", "".join(pieces) == reply.choices[0].message.content, (pieces, reply))
check("streaming usage", usage is not None and usage.completion_tokens == reply.usage.completion_tokens, usage)

raw = client.chat.completions.with_raw_response.create(
    model="aimos/consult",
    messages=[
        {"role": "system", "content": "You help with Python code."},
        {"role": "user", "content": "def add(a, b): return a - b\n\nWhy does add(2, 3) return -1? Fix it."},
    ],
    max_tokens=60,
)
run_id = raw.headers.get("x-aimos-run-id")
consult = raw.parse()
extra = consult.model_extra or {}
check("pipeline", run_id and extra.get("aimos", {}).get("run_id") == run_id, (run_id, extra))
check("pipeline answer", bool(consult.choices[0].message.content), consult)

try:
    client.chat.completions.create(model=model, messages=[], max_tokens=4)
    check("bad request", False, "no error")
except openai.BadRequestError as err:
    check("bad request", err.status_code == 400 and "messages" in str(err), err)

try:
    openai.OpenAI(base_url=base_url, api_key="aimos-wrong").chat.completions.create(
        model=model, messages=question, max_tokens=4)
    check("bad key", False, "no error")
except openai.AuthenticationError as err:
    check("bad key", err.status_code == 401, err)

poor = openai.OpenAI(base_url=base_url, api_key=os.environ["AIMOS_POOR_KEY"])
started = time.monotonic()
try:
    poor.chat.completions.create(model=model, messages=question, max_tokens=4)
    check("budget exhausted", False, "no error")
except openai.RateLimitError as err:
    took = time.monotonic() - started
    check("budget exhausted", err.code == "insufficient_quota", err)
    # x-should-retry: false keeps the SDK from retrying (its backoff would take ≥ 0.5 s).
    check("budget not retried", took < 0.4, took)

tagged = client.chat.completions.create(
    model=model, messages=question, max_tokens=4, temperature=0,
    user="alice", metadata={"team": "search", "ticket": "T-7"},
)
check("user and metadata", tagged.choices[0].message.content is not None, tagged)

models = [m.id for m in client.models.list()]
check("models", "aimos/consult" in models and model in models, models)
