"""aimos's MCP tools driven by the official MCP Python SDK, as an agent would.

Over stdio (`aimos mcp`, spawned here): AIMOS_BIN (the binary), AIMOS_ROOT (the project folder
the server may read), AIMOS_STORE (its store), AIMOS_MODEL (the embedded model in both roles).
Over streamable HTTP (`aimos serve`'s /mcp, started by the caller): AIMOS_MCP_URL and
AIMOS_KEY; that server reads no files, so the material goes as text.
Prints `ok CHECK` per check and, last, `insight ID` for the caller to look up in the store.
"""

import asyncio
import os
import sys

import httpx2
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

CART = "def total(items):\n    s = 0\n    for i in range(len(items) - 1):\n        s += items[i]\n    return s\n"


def check(name, condition, detail=""):
    if not condition:
        print(f"FAILED {name}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok {name}", flush=True)


def text(result):
    return "".join(getattr(block, "text", "") for block in result.content)


async def exercise(session, over_http):
    init = await session.initialize()
    check("initialize", init.server_info.name == "aimos", init)

    listed = await session.list_tools()
    names = [tool.name for tool in listed.tools]
    check("list", names == ["consult", "distill", "fix", "search_insights", "record_outcome"], names)
    consult_schema = next(t for t in listed.tools if t.name == "consult").input_schema
    check("schema", consult_schema.get("required") == ["problem"]
          and "description" in consult_schema["properties"]["paths"], consult_schema)

    problem = "test_total fails: expected 6, got 3. total() in cart.py returns 3 for [1, 2, 3]"
    material = {"context": CART} if over_http else {"paths": ["cart.py"]}
    result = await session.call_tool(
        "consult", {"problem": problem, "budget": 256, "reuse": False, **material})
    check("consult", not result.is_error, text(result))
    advice = result.structured_content
    check("consult fields", advice["insight_id"] and advice["run_id"]
          and advice["recalled"] is False and isinstance(advice["plan"], list)
          and 0 <= advice["confidence"] <= 1, advice)

    brief = await session.call_tool("distill", {"problem": problem, **material})
    check("distill", not brief.is_error and "range(len(items) - 1)" in brief.structured_content["brief"],
          text(brief))

    recorded = await session.call_tool(
        "record_outcome", {"id": advice["run_id"], "passed": True, "note": "the test passes"})
    check("record_outcome", not recorded.is_error
          and recorded.structured_content["succeeded"] == 1, text(recorded))

    found = await session.call_tool("search_insights", {"query": "total", "limit": 5})
    ids = [i["insight_id"] for i in found.structured_content["insights"]]
    check("search_insights", advice["insight_id"] in ids, ids)

    if over_http:
        files = await session.call_tool("consult", {"problem": problem, "paths": ["cart.py"]})
        check("no files over http", files.is_error and "reads no files" in text(files), text(files))
        fixed = await session.call_tool(
            "fix", {"problem": problem, "paths": ["cart.py"], "test": "rm -rf /"})
        check("no commands over http", fixed.is_error and "runs no commands" in text(fixed), text(fixed))
    else:
        outside = await session.call_tool(
            "consult", {"problem": problem, "paths": ["../outside.txt"]})
        check("outside the root", outside.is_error and "outside the folders" in text(outside),
              text(outside))
    wrong = await session.call_tool("consult", {"problem": problem, "budget": "lots"})
    check("wrong type", wrong.is_error and "`budget`" in text(wrong), text(wrong))
    try:
        await session.call_tool("summon", {})
        check("unknown tool", False, "no error")
    except MCPError as err:
        check("unknown tool", "unknown tool `summon`" in str(err), str(err))
    return advice


async def over_stdio():
    model = os.environ["AIMOS_MODEL"]
    server = StdioServerParameters(
        command=os.environ["AIMOS_BIN"],
        args=["mcp", "--root", os.environ["AIMOS_ROOT"], "--smart", model, "--cheap", model,
              "--ctx", "2048", "--store", os.environ["AIMOS_STORE"]],
        env={key: os.environ[key] for key in ("HOME", "AIMOS_HOME") if key in os.environ},
    )
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            return await exercise(session, over_http=False)


async def over_http():
    url = os.environ["AIMOS_MCP_URL"]
    # Without a key the gateway answers 401 before any MCP happens.
    async with httpx2.AsyncClient(timeout=30) as plain:
        refused = await plain.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                   headers={"accept": "application/json, text/event-stream"})
        check("no key", refused.status_code == 401, refused.text)
    headers = {"authorization": "Bearer " + os.environ["AIMOS_KEY"]}
    async with httpx2.AsyncClient(headers=headers, timeout=300) as client:
        async with streamable_http_client(url, http_client=client, terminate_on_close=False) as (read, write):
            async with ClientSession(read, write) as session:
                return await exercise(session, over_http=True)


async def main():
    advice = await (over_http() if "AIMOS_MCP_URL" in os.environ else over_stdio())
    print(f"insight {advice['insight_id']}", flush=True)


asyncio.run(main())
