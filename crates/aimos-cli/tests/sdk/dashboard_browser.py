"""The dashboard in headless Chromium (Debian's `chromium`), driven by Playwright for Python.

Environment: AIMOS_UI (the dashboard's base URL, ending in /ui), AIMOS_ADMIN_KEY, AIMOS_STATS
(a file holding `aimos stats --json`), AIMOS_SHOTS (a folder for screenshots) and
AIMOS_CHROMIUM (the browser, default /usr/bin/chromium). Prints `ok CHECK` per check passed
and `feedback INSIGHT_ID` for the insight it recorded feedback on; exits non-zero on the first
failure.
"""

import json
import os
import sys

from playwright.sync_api import sync_playwright

base = os.environ["AIMOS_UI"].rstrip("/")
origin = base[: -len("/ui")]
key = os.environ["AIMOS_ADMIN_KEY"]
stats = json.load(open(os.environ["AIMOS_STATS"]))
shots = os.environ["AIMOS_SHOTS"]
browser_path = os.environ.get("AIMOS_CHROMIUM", "/usr/bin/chromium")


def check(name, condition, detail=""):
    if not condition:
        print(f"FAILED {name}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok {name}", flush=True)


def usd(value):
    return f"${value:.6f}"


def pct(part, whole):
    return "–" if not whole else f"{100 * part / whole:.0f}%"


problems = []  # console errors, page errors and dialogs, on every page


def watch(page):
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def dialog(d):
        problems.append(f"dialog: {d.message}")
        d.dismiss()

    page.on("dialog", dialog)


def expect_refusal(step):
    """Runs `step`, which loads a page that answers 4xx on purpose: the browser's one report of
    the failed load is expected, anything else it reports is kept."""
    mark = len(problems)
    step()
    new = problems[mark:]
    del problems[mark:]
    problems.extend(p for p in new if "Failed to load resource" not in p)
    check("one refusal reported", len(new) <= 1, new)


def figure(page, name):
    return page.locator(f'[data-figure="{name}"]').first.inner_text().strip()


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    watch(page)

    # With keys in the store, the dashboard asks for an admin key first.
    response = page.goto(base)
    check("login asked for", "/ui/login" in page.url and response.ok, page.url)
    page.fill('input[name="key"]', "not-a-key")
    expect_refusal(lambda: page.click('button[type="submit"]') or page.wait_for_load_state())
    check("a wrong key refused", "unknown or revoked" in page.content())
    page.fill('input[name="key"]', key)
    page.click('button[type="submit"]')
    page.wait_for_url(base)
    check("logged in", page.locator("h1").inner_text() == "Overview", page.url)

    # The overview's figures are those of `aimos stats --json`.
    total = stats["total"]
    quality = stats["quality"]
    check("runs figure", figure(page, "runs") == f"{total['runs']:,}", figure(page, "runs"))
    check("cost figure", figure(page, "cost") == usd(total["cost"]["usd"]), figure(page, "cost"))
    check(
        "counterfactual figure",
        figure(page, "counterfactual") == usd(total["counterfactual"]["usd"]),
        figure(page, "counterfactual"),
    )
    cf = total["counterfactual"]["usd"]
    saved = "–" if cf <= 0 else f"{100 * (1 - total['cost']['usd'] / cf):.0f}%"
    check("savings figure", figure(page, "savings") == saved, f"{figure(page, 'savings')} vs {saved}")
    shadow = quality["shadow"]
    check(
        "quality retained figure",
        figure(page, "quality-retained") == pct(shadow["held_up"], shadow["checks"]),
        figure(page, "quality-retained"),
    )
    reuse = quality["reuse"]
    check("reuse figure", figure(page, "reuse") == pct(reuse["reused"], reuse["advised"]), figure(page, "reuse"))
    page.screenshot(path=f"{shots}/dashboard-overview.png", full_page=True)

    # The keyboard reaches everything: the skip link first, then the navigation.
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    check("skip link first", focused.strip() == "Skip to content", focused)
    for _ in range(3):
        page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent").strip()
    check("navigation by keyboard", focused == "Runs", focused)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/runs")

    # Runs: every run of the ledger on one page, filterable.
    rows = page.locator("table.runs tbody tr")
    check("runs listed", rows.count() == total["runs"], f"{rows.count()} rows")
    page.select_option('select[name="strategy"]', "cheap")
    page.click("form.filters button")
    page.wait_for_url("**/ui/runs?strategy=cheap**")
    cheap_rows = page.locator("table.runs tbody tr")
    texts = [cheap_rows.nth(i).inner_text() for i in range(cheap_rows.count())]
    check("filter by strategy", texts and all("\tcheap\t" in t for t in texts), texts)
    expect_refusal(lambda: page.goto(f"{base}/runs?since=yesterday"))
    check("a malformed filter is explained", "must be a date like" in page.content())
    page.goto(f"{base}/runs")
    page.screenshot(path=f"{shots}/dashboard-runs.png", full_page=True)

    # A run: its steps as a waterfall, its brief and insight.
    page.locator("table.runs tbody tr a").last.click()
    page.wait_for_url("**/ui/runs/*")
    check("run page", page.locator("h1").inner_text().startswith("Run "), page.content()[:3000])
    check("waterfall", page.locator("table.waterfall tbody tr").count() >= 1)
    page.screenshot(path=f"{shots}/dashboard-run.png", full_page=True)

    # Insights: model text is shown as text, never run.
    page.goto(f"{base}/insights")
    check("insights listed", page.locator("tbody tr a").count() >= 1)
    check("model text escaped", "<script>alert(1)</script>" in page.locator("main").inner_text())
    page.screenshot(path=f"{shots}/dashboard-insights.png", full_page=True)
    page.locator("tbody tr a").first.click()
    page.wait_for_url("**/ui/insights/*")
    insight_url = page.url
    insight_id = insight_url.rsplit("/", 1)[1]
    failed_before = int(figure(page, "failed"))
    page.fill('input[name="note"]', "checked by hand: it did not apply")
    page.click('button[value="no"]')
    page.wait_for_url("**recorded=1**")
    check("feedback shown", "Your feedback was recorded." in page.content())
    check("failed count", int(figure(page, "failed")) == failed_before + 1, figure(page, "failed"))
    outcomes = page.locator('section[aria-labelledby="outcomes"] tbody').inner_text()
    check("outcome listed", "user" in outcomes and "no" in outcomes, outcomes)
    print(f"feedback {insight_id}", flush=True)
    page.screenshot(path=f"{shots}/dashboard-insight.png", full_page=True)

    for path, title, shot in [
        ("/calibration", "Calibration", "dashboard-calibration.png"),
        ("/keys", "Keys", "dashboard-keys.png"),
        ("/evals", "Evals", "dashboard-evals.png"),
    ]:
        response = page.goto(base + path)
        check(f"{title} page", response.ok and page.locator("h1").inner_text() == title, page.url)
        page.screenshot(path=f"{shots}/{shot}", full_page=True)
    check("reliability diagram", page.goto(base + "/calibration") and page.locator("svg.chart").count() >= 1)
    page.goto(base + "/keys")
    check("admin key listed", "admin" in page.locator("tbody").inner_text())
    page.goto(base + "/evals")
    plot = page.locator("img.plot").first
    check("eval plot loads", plot.evaluate("img => img.complete && img.naturalWidth > 0"))

    # Unknown ids get a page that says so.
    responses = []
    expect_refusal(lambda: responses.append(page.goto(f"{base}/runs/no-such-run")))
    check("unknown run is a 404 page", responses[0].status == 404 and "no run" in page.content())

    # Phone width: nothing wider than the screen but scrollable tables.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=context.storage_state())
    small = phone.new_page()
    watch(small)
    for path in ["", "/runs", "/insights", "/calibration", "/keys", "/evals"]:
        small.goto(base + path)
        overflow = small.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        check(f"phone width {path or '/'}", overflow <= 1, f"{overflow} px too wide")
    small.goto(base)
    small.screenshot(path=f"{shots}/dashboard-phone.png", full_page=True)

    check("no console errors or dialogs", not problems, problems)
    browser.close()
