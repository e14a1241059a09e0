#!/usr/bin/env python3
"""Drive the provisiond console in headless Chromium (Selenium + chromedriver).

Run by `tests/api/console/browser.rs` against a running test app; every input comes from
the environment (see there). Exits non-zero on the first failed check. Saves a screenshot
of every page into $SCREENSHOTS. Fails when Chromium's browser log has a SEVERE entry
(a console error, a refused script or style, a failed request) on any page, except the
one 403 the forged POST is expected to cause.
"""
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

URL = os.environ["CONSOLE_URL"].rstrip("/")
SHOTS = os.environ["SCREENSHOTS"]
LETTER = os.environ["LETTER_ID"]
EVENT = os.environ["LETTER_EVENT"]
EMPLOYEE = os.environ["LETTER_EMPLOYEE"]
BULK_REASON = os.environ["BULK_REASON"]
BULK_COUNT = int(os.environ["BULK_COUNT"])
WIDE = (1280, 900)
PHONE = (390, 844)
WAIT = 60  # seconds: a deadline for a condition, never a pause


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


options = webdriver.ChromeOptions()
options.binary_location = os.environ["CHROMIUM"]
for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={WIDE[0]},{WIDE[1]}", "--force-device-scale-factor=1"):
    options.add_argument(argument)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(options=options, service=Service(os.environ["CHROMEDRIVER"]))
wait = WebDriverWait(driver, WAIT)
allowed_errors = []  # substrings of SEVERE entries a step expects


def browser_errors():
    """SEVERE entries of the browser log since the last call, minus the expected ones."""
    entries = driver.get_log("browser")
    severe = [e["message"] for e in entries if e.get("level") == "SEVERE"]
    return [m for m in severe if not any(a in m for a in allowed_errors)]


def visit(path):
    driver.get(URL + path)
    settle()


UNLABELLED = """return Array.from(document.querySelectorAll('input, select, textarea'))
    .filter(e => e.type !== 'hidden' && e.labels.length === 0).map(e => e.name || e.id);"""


def settle():
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
    errors = browser_errors()
    check(not errors, f"browser errors on {driver.current_url}: {errors}")
    unlabelled = driver.execute_script(UNLABELLED)
    check(not unlabelled, f"fields without a <label> on {driver.current_url}: {unlabelled}")
    check(exists("main#main") and exists("a.skip"), f"main and skip link on {driver.current_url}")


def shot(name, size=WIDE):
    """The whole page at `size`'s width, saved as $SCREENSHOTS/<name>.png."""
    driver.set_window_size(*size)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size[0], max(size[1], min(height + 140, 4000)))
    path = os.path.join(SHOTS, f"{name}.png")
    check(driver.save_screenshot(path), f"could not save {path}")
    driver.set_window_size(*size)
    print(f"saved {path}")


def text(selector):
    return driver.find_element(By.CSS_SELECTOR, selector).text


def exists(selector):
    return len(driver.find_elements(By.CSS_SELECTOR, selector)) > 0


def sign_in(token):
    visit("/sign-in")
    field = driver.find_element(By.ID, "token")
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    try:
        wait.until(lambda d: d.current_url.rstrip("/") == URL)
    except Exception:
        fail(f"sign-in did not reach the overview: at {driver.current_url}: "
             f"{driver.find_element(By.TAG_NAME, 'main').text[:500]}")
    settle()


def sign_out():
    driver.find_element(By.CSS_SELECTOR, "form.who button").click()
    wait.until(lambda d: d.current_url.endswith("/sign-in"))
    settle()


def wait_reloading(what, condition):
    """Reload until `condition()` holds, up to the deadline."""
    deadline = time.monotonic() + WAIT
    while not condition():
        check(time.monotonic() < deadline, f"timed out waiting for {what}")
        time.sleep(0.2)
        driver.refresh()
        settle()


try:
    # Sign-in, with a keyboard-reachable skip link and labelled field.
    visit("/sign-in")
    check(exists("a.skip[href='#main']") and exists("label[for=token]"), "skip link and label")
    shot("sign-in")

    # An auditor: reads, sees no replay button and no raw body; a forged POST is refused.
    sign_in(os.environ["AUDITOR_TOKEN"])
    visit(f"/dead-letters/{LETTER}")
    check(not exists("#replay") and not exists("#discard"), "an auditor sees no buttons")
    check(exists("#body-withheld") and not exists("#raw-body"), "an auditor sees no raw body")
    csrf = driver.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
    allowed_errors.append(f"/dead-letters/{LETTER}/replay")
    status = driver.execute_async_script(
        """const [url, csrf, done] = arguments;
        fetch(url, {method: 'POST', body: new URLSearchParams({csrf}),
                    credentials: 'same-origin'}).then(r => done(r.status), e => done(String(e)));""",
        f"{URL}/dead-letters/{LETTER}/replay", csrf)
    check(status == 403, f"a forged replay by an auditor answers 403, not {status}")
    browser_errors()  # the expected 403 is logged as a failed resource: drop it
    allowed_errors.pop()
    visit(f"/dead-letters/{LETTER}")
    check(text("#status") == "dead", "the auditor's forged replay changed nothing")
    sign_out()

    # An operator: the overview, the list, one letter, its replay, the employee timeline.
    sign_in(os.environ["OPERATOR_TOKEN"])
    check(exists("main h1"), "the overview has a heading")
    received = driver.find_elements(By.CSS_SELECTOR, "svg.chart[aria-labelledby=chart-received] .bar")
    check(any(float(b.get_attribute("height") or 0) > 0 for b in received),
          "the overview charts the events received in the last 24 hours")
    work = driver.find_elements(By.XPATH, "//table[@id='queues']//tr[th[normalize-space()='work']]/td")
    check(len(work) == 2 and work[1].text.strip().isdigit() and int(work[1].text) >= 1,
          "the overview shows the work queue's depth and its consumers, asked of RabbitMQ")
    shot("overview")
    visit("/dead-letters")
    check(exists(f"a[href='/console/dead-letters/{LETTER}']"), "the letter is listed")
    shot("dead-letters")
    driver.find_element(By.CSS_SELECTOR, f"a[href='/console/dead-letters/{LETTER}']").click()
    settle()
    check(exists("#raw-body"), "an operator sees the raw body")
    shot("dead-letter")
    driver.find_element(By.ID, "replay").click()
    settle()
    driver.find_element(By.ID, "confirm").click()
    wait.until(lambda d: "done=replayed" in d.current_url)
    settle()
    check(text("#status") == "replayed", "the letter is replayed")
    driver.find_element(By.ID, "employee-link").click()
    settle()
    row = f"tr[data-event='{EVENT}']"
    wait_reloading("the replayed event to be applied",
                   lambda: exists(row) and "applied" in text(row))
    shot("employee")

    # Employee search by source and id leads to the same timeline.
    visit("/employees")
    Select(driver.find_element(By.ID, "source")).select_by_value("hris")
    driver.find_element(By.ID, "id").send_keys(EMPLOYEE)
    shot("employees")
    driver.find_element(By.ID, "find-by-id").click()
    settle()
    check(exists(row), "the search finds the employee's timeline")

    # A bulk replay of a filter shows its progress to the end.
    visit(f"/dead-letters?reason={BULK_REASON}&status=dead")
    driver.find_element(By.ID, "bulk-replay").click()
    settle()
    check(text("#count") == str(BULK_COUNT), f"the bulk replay selects {BULK_COUNT}")
    driver.find_element(By.ID, "confirm").click()
    wait.until(lambda d: "/jobs/" in d.current_url)
    settle()
    wait.until(lambda d: d.find_element(By.ID, "job-status").text == "succeeded")
    settle()
    check(text("#job-percent") == "100", "the bar reaches 100 %")
    bar = driver.find_element(By.ID, "job-progress")
    check(bar.get_attribute("value") == bar.get_attribute("max"), "the bar is full")
    check(text("#job-replayed") == str(BULK_COUNT), "every one was replayed")
    shot("bulk-replay")

    # The report draws its charts with data.
    visit("/report")
    charts = driver.find_elements(By.CSS_SELECTOR, "svg.chart")
    check(len(charts) >= 2, f"the report has its charts ({len(charts)})")
    for chart in charts:
        bars = chart.find_elements(By.CSS_SELECTOR, ".bar")
        drawn = [b for b in bars if float(b.get_attribute("height") or 0) > 0]
        check(drawn, f"chart {chart.get_attribute('aria-labelledby')} draws data")
    shot("report")

    # The overview at a phone's width.
    driver.set_window_size(*PHONE)
    visit("")
    width = driver.execute_script("return document.documentElement.scrollWidth")
    check(width <= PHONE[0] + 1, f"the overview fits a phone's width (scroll width {width})")
    shot("overview-phone", PHONE)
    print("browser checks passed")
finally:
    driver.quit()
