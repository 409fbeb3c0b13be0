"""The console page in headless Chromium (run by tests/console.rs, which starts the console and
feeds it). Arguments: the page's address (with #token=…), where to keep the screenshot, and a
fresh profile folder. The application code to type comes in ROWTIME_TYPO_APP (a misspelt column
on line 3, column 25) and ROWTIME_NEW_APP (one more column, ACCOUNT_ID). Exits non-zero with
the reason when the page does not do what it should."""

import os
import re
import sys

from playwright.sync_api import expect, sync_playwright

url, screenshot, profile = sys.argv[1], sys.argv[2], sys.argv[3]
typo_app = os.environ["ROWTIME_TYPO_APP"]
new_app = os.environ["ROWTIME_NEW_APP"]

# The machine has no network: these keep Chromium from trying to reach one.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

with sync_playwright() as p:
    browser = p.chromium.launch_persistent_context(
        profile,
        executable_path="/usr/bin/chromium",
        headless=True,
        args=ARGS,
        viewport={"width": 1440, "height": 900},
    )
    page = browser.new_page()
    page.set_default_timeout(30_000)
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url)

    # The code is loaded into the editor and checks.
    expect(page.locator("#code")).to_have_value(re.compile("DESTINATION_SQL_STREAM"))
    expect(page.locator("#check-ok")).to_be_visible()

    # DESTINATION_SQL_STREAM is shown first; its rows arrive, newest first.
    table = page.locator("#stream-table")
    expect(table.locator("thead th")).to_have_text(["ROWTIME", "BOOTH_ID", "AMOUNT"])
    expect(table.locator("tbody tr").first).to_contain_text(re.compile(r"B0[0-3]"))
    expect(table.locator("tbody tr").first).to_contain_text("2.5")
    count = int(page.locator("#stream-count").inner_text())
    page.wait_for_function(
        "(n) => +document.getElementById('stream-count').textContent > n", arg=count
    )
    rows = table.locator("tbody tr td:first-child").all_inner_texts()[:5]
    if rows != sorted(rows, reverse=True):
        sys.exit(f"rows are not newest first: {rows}")

    # Pause holds the table still while rows go on arriving; Resume goes on.
    page.click("#pause")
    expect(page.locator("#pause")).to_have_text("Resume")
    held = table.locator("tbody tr").first.inner_text()
    total = int(page.locator("#stream-total").inner_text())
    page.wait_for_function(
        "(n) => +document.getElementById('stream-total').textContent > n + 5", arg=total
    )
    if table.locator("tbody tr").first.inner_text() != held:
        sys.exit("rows were added while paused")
    page.click("#pause")
    expect(page.locator("#pause")).to_have_text("Pause")
    expect(table.locator("tbody tr").first).not_to_have_text(held)

    # error_stream: the malformed records.
    page.select_option("#stream-pick", "error_stream")
    expect(table.locator("thead th").nth(3)).to_have_text("ERROR_NAME")
    expect(table.locator("tbody tr").first).to_contain_text("PARSE_ERROR")

    # Back to the output; type a misspelt column: the diagnostic shows at line 3, column 25.
    page.select_option("#stream-pick", "DESTINATION_SQL_STREAM")
    page.locator("#code").fill(typo_app)
    problem = page.locator("#problems .problem").first
    expect(problem).to_contain_text("line 3, column 25")
    expect(problem).to_contain_text("AMOUNTT")
    expect(page.locator("#gutter div.bad")).to_have_text(["3"])
    expect(page.locator("#highlight .squiggle")).to_have_text("AMOUNTT")

    # Save and run refuses it; the run keeps its columns.
    page.click("#save")
    expect(page.locator("#note")).to_contain_text("does not check")
    expect(page.locator("#st-version")).to_have_text("0")

    # Fix it, with one more column; Save and run; the new column arrives.
    page.locator("#code").fill(new_app)
    expect(page.locator("#check-ok")).to_be_visible()
    page.click("#save")
    expect(page.locator("#note")).to_contain_text("The new code runs")
    expect(table.locator("thead th")).to_have_text(
        ["ROWTIME", "BOOTH_ID", "AMOUNT", "ACCOUNT_ID"]
    )
    expect(table.locator("tbody tr").first.locator("td").nth(3)).to_have_text(
        re.compile(r"^A\d{6}$")
    )
    expect(page.locator("#st-version")).to_have_text("1")

    # The other views draw from the running application.
    page.click("#tabs button[data-view=dataflow]")
    expect(page.locator("#graph svg text", has_text="P").first).to_be_visible()
    expect(page.locator("#graph")).to_contain_text("SOURCE_SQL_STREAM_001")
    expect(page.locator("#graph text.held")).to_have_text("0 open window(s) · 0 held")
    page.click("#tabs button[data-view=source]")
    expect(page.locator("#source-schema")).to_contain_text("RecordColumns")
    expect(page.locator("#source-raw")).to_contain_text('"booth_id": broken')
    page.click("#tabs button[data-view=charts]")
    page.wait_for_function(
        "() => { const c = document.getElementById('chart').getContext('2d');"
        " const d = c.getImageData(0, 0, c.canvas.width, c.canvas.height).data;"
        " for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 150 && d[i] < 60) return true; return false; }"
    )
    page.click("#tabs button[data-view=streams]")

    page.screenshot(path=screenshot)
    if problems:
        sys.exit("the page raised errors: " + "; ".join(problems))
    browser.close()
print("ok")
