#!/usr/bin/env python3
"""The dashboard as a person uses it, in headless Chromium driven over WebDriver.

Usage: python3 tests/browser/dashboard_test.py [PURSER_BINARY]

Starts the real binary on 127.0.0.1:0 with two tokens (an admin, and an operator scoped to
acme/research), fills it through the API, then in the browser: signs in with the scoped token and
sees only its accounts; posts usage through the API and watches the open page's bar and level
change within a second, with no row moving; opens an account's chart and a DAG's timeline;
reaches every view by keyboard alone. Screenshots of each view go to target/screenshots/ (not
committed) for a person to look at. Needs chromium and chromium-driver (Debian) and the Python
package selenium; skips with a message when Chromium is absent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "target" / "screenshots"
ADMIN = "admin-token-0123456789"
OPERATOR = "operator-token-0123456789"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def api(base: str, method: str, path: str, body: dict | None = None, token: str = ADMIN) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"{}")


def start(binary: Path, work: Path) -> tuple[subprocess.Popen, str]:
    (work / "purser.toml").write_text(
        f"""listen = "127.0.0.1:0"
data_dir = "{work / 'data'}"
durability = "os"

[[tokens]]
token = "{ADMIN}"
role = "admin"
name = "admin"

[[tokens]]
token = "{OPERATOR}"
role = "operator"
scope = "acme/research"
name = "research-lead"

[[pool]]
name = "local"
machines = 2
cores = 4
"""
    )
    server = subprocess.Popen(
        [str(binary), "serve", "--config", str(work / "purser.toml")],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        line = server.stderr.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return server, match.group(1)
        if server.poll() is not None:
            break
    server.kill()
    raise SystemExit("the server did not start")


def fill(base: str) -> None:
    api(base, "PUT", "/v1/accounts/acme", {"limits": {"tokens": 100000}})
    api(base, "PUT", "/v1/accounts/acme/ops", {"limits": {"tokens": 10000}})
    api(base, "PUT", "/v1/accounts/acme/research", {"limits": {"tokens": 50000}})
    for name in ("wf-1", "wf-2", "wf-3"):
        api(base, "PUT", f"/v1/accounts/acme/research/{name}", {"limits": {"tokens": 2000}})
    api(base, "POST", "/v1/usage", {"account": "acme/research/wf-2", "usage": {"tokens": 300}})
    dag = api(base, "POST", "/v1/dags", {
        "tenant": "acme/research", "name": "nightly", "account": "acme/research",
        "tasks": [
            {"id": "plan", "runtime_ms": 1000, "requests": {"cores": 2}},
            {"id": "review", "runtime_ms": 1000, "requests": {"cores": 2}},
            {"id": "build", "runtime_ms": 1000, "requests": {"cores": 2}, "depends_on": ["plan"]},
        ]})
    leased = api(base, "POST", "/v1/workers/local-0:lease", {})
    task = leased["task"]
    api(base, "POST", f"/v1/tasks/{task['id']}:complete", {"attempt": task["attempt"]})
    again = api(base, "POST", "/v1/workers/local-0:lease", {"max_tasks": 2})
    if not again.get("task"):
        raise SystemExit(f"the second lease got nothing: {again}")
    return dag["id"]


def text_of(driver, selector: str) -> str | None:
    """The text of the first element matching `selector`, read atomically in the page."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null", selector)


class Checks:
    def __init__(self) -> None:
        self.failed = 0
        self.passed = 0

    def check(self, ok: bool, what: str) -> None:
        if ok:
            self.passed += 1
            print(f"ok: {what}")
        else:
            self.failed += 1
            print(f"FAILED: {what}")


def main() -> int:
    if not CHROMIUM or not DRIVER:
        print("skipped: the browser test needs chromium and chromedriver "
              "(apt-get install chromium chromium-driver)")
        return 0
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        print("the browser test needs the Python package selenium (pip install selenium)")
        return 2
    binary = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "target" / "debug" / "purser")
    SHOTS.mkdir(parents=True, exist_ok=True)
    checks = Checks()
    with tempfile.TemporaryDirectory() as work:
        server, base = start(binary, Path(work))
        driver = None
        try:
            dag_id = fill(base)
            options = webdriver.ChromeOptions()
            for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                        "--window-size=1280,1000", "--disable-dev-shm-usage"):
                options.add_argument(arg)
            options.binary_location = CHROMIUM
            options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
            driver = webdriver.Chrome(service=Service(DRIVER), options=options)
            driver.set_page_load_timeout(20)

            # Sign in with the scoped token: the sign-in page first, then its accounts only.
            driver.get(base + "/ui/accounts")
            checks.check("/ui/sign-in" in driver.current_url, "an unsigned visit lands on the sign-in")
            driver.save_screenshot(str(SHOTS / "sign-in.png"))
            driver.find_element(By.ID, "token").send_keys(OPERATOR + Keys.ENTER)
            WebDriverWait(driver, 5).until(lambda d: "/ui/accounts" in d.current_url)
            rows = driver.find_elements(By.CSS_SELECTOR, "#rows tr[data-key]")
            keys = [row.get_attribute("data-key") for row in rows]
            checks.check(keys == ["acme/research", "acme/research/wf-1", "acme/research/wf-2",
                                  "acme/research/wf-3"], f"the scoped token sees its accounts only: {keys}")
            checks.check("acme/ops" not in driver.page_source, "nothing outside the scope shows")
            driver.save_screenshot(str(SHOTS / "accounts.png"))

            # Usage posted through the API shows on the open page within a second.
            before = text_of(driver, 'tr[data-key="acme/research/wf-1"] .lvl')
            WebDriverWait(driver, 5).until(
                lambda d: "Live" in (text_of(d, "#live-status") or ""))
            sent = time.monotonic()
            api(base, "POST", "/v1/usage", {"account": "acme/research/wf-1", "usage": {"tokens": 1600}},
                token=OPERATOR)
            changed = None
            while time.monotonic() - sent < 3:
                # The live view replaces cells as it updates them: read in one script call, so
                # a cell swapped between a lookup and a read never leaves a stale reference.
                if text_of(driver, 'tr[data-key="acme/research/wf-1"] .lvl') == "orange":
                    changed = time.monotonic() - sent
                    break
                time.sleep(0.02)
            checks.check(before == "green" and changed is not None and changed < 1.0,
                         f"the level went {before} -> orange on the open page in {changed}s")
            title = text_of(driver, 'tr[data-key="acme/research/wf-1"] svg title')
            checks.check("1,600 spent" in title, f"the bar shows the new figures: {title}")
            after = driver.execute_script(
                "return [...document.querySelectorAll('#rows tr[data-key]')].map(r => r.dataset.key)")
            checks.check(after == keys, "no row moved")
            checks.check(driver.execute_script("return performance.getEntriesByType('navigation').length") == 1
                         and "/ui/sign-in" not in driver.current_url, "without reloading the page")
            driver.save_screenshot(str(SHOTS / "accounts-live.png"))

            # An account's chart.
            driver.find_element(By.LINK_TEXT, "wf-1").click()
            WebDriverWait(driver, 5).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#consumption svg"))
            checks.check(driver.find_element(By.TAG_NAME, "h1").text == "acme/research/wf-1",
                         "the account's page opened")
            checks.check(len(driver.find_elements(By.CSS_SELECTOR, "#consumption svg polyline, #consumption svg path")) > 0,
                         "its consumption chart is drawn")
            driver.save_screenshot(str(SHOTS / "account.png"))

            # A DAG's timeline.
            driver.find_element(By.LINK_TEXT, "DAGs").click()
            WebDriverWait(driver, 5).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#dags tr"))
            driver.save_screenshot(str(SHOTS / "dags.png"))
            driver.find_element(By.LINK_TEXT, dag_id).click()
            WebDriverWait(driver, 5).until(lambda d: d.find_elements(By.CSS_SELECTOR, "svg.timeline"))
            attempts = driver.find_elements(By.CSS_SELECTOR, "svg.timeline rect.attempt")
            checks.check(len(attempts) >= 2, f"the timeline shows the attempts ({len(attempts)})")
            driver.save_screenshot(str(SHOTS / "dag.png"))

            # Every view by keyboard alone: Tab to the link, Enter to follow it.
            for label, path in (("Alerts", "/ui/alerts"), ("Audit log", "/ui/audit"),
                                ("Pools and quotas", "/ui/pools"), ("DAGs", "/ui/dags"),
                                ("Accounts", "/ui/accounts")):
                driver.get(base + "/ui/accounts")
                body = driver.find_element(By.TAG_NAME, "body")
                reached = False
                for _ in range(30):
                    body.send_keys(Keys.TAB) if _ == 0 else driver.switch_to.active_element.send_keys(Keys.TAB)
                    active = driver.switch_to.active_element
                    if active.text == label and active.tag_name == "a":
                        active.send_keys(Keys.ENTER)
                        WebDriverWait(driver, 5).until(lambda d: d.current_url.startswith(base + path))
                        reached = True
                        break
                checks.check(reached, f"{label} is reached by keyboard")
                driver.save_screenshot(str(SHOTS / f"{path.rsplit('/', 1)[1]}.png"))

            # Nothing was refused by the Content-Security-Policy.
            errors = [entry["message"] for entry in driver.get_log("browser")
                      if entry["level"] == "SEVERE"]
            checks.check(not errors, f"no error in the browser's console: {errors}")
        finally:
            if driver is not None:
                driver.quit()
            server.terminate()
            server.wait(timeout=10)
    print(f"browser: {checks.passed} passed, {checks.failed} failed; screenshots in {SHOTS}")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
