"""The study pages in a real browser: headless Chromium (Debian's chromium + chromium-driver) via Selenium.

Consent, votes by keyboard and by click (and "same"), a reload in the middle, the completion code, the
database afterwards, and the dashboard showing a markup rater id as text. Set HARMONY_SCREENSHOTS=DIR
to keep screenshots of the rating page and the dashboard (docs/img/ in the README come from this).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

from tests._study_util import Server, make_study_dir  # noqa: E402

CHROMEDRIVER = "/usr/bin/chromedriver"


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


@pytest.fixture(scope="module")
def driver():
    binary = _chromium()
    if binary is None or not os.path.exists(CHROMEDRIVER):
        pytest.skip("Chromium or chromedriver is absent (apt-get install chromium chromium-driver); browser tests skipped")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
              "--disable-extensions", "--no-first-run"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(30)
    yield d
    d.quit()


def wait(d, cond, timeout=20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(d, timeout, poll_frequency=0.05).until(lambda _d: cond())


def _ready(d):
    from selenium.webdriver.common.by import By

    return d.find_element(By.ID, "choose-left").is_enabled()


def _count(d):
    from selenium.webdriver.common.by import By

    return d.find_element(By.ID, "count").text


def _shot(d, name):
    out = os.environ.get("HARMONY_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        d.save_screenshot(str(Path(out) / name))


def test_rate_in_chromium(driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    tasks, imgs = make_study_dir(tmp_path, images=["cat", "cup", "rocket", "<script>alert(1)</script>.jpg"],
                                 sentinels=4, photos=True)
    db = tmp_path / "b.sqlite"
    srv = Server(tasks, imgs, db, "--votes-per-rater", 6, "--allow-ties", "--sentinel-every", 5, "--seed", 11)
    try:
        d = driver
        d.get(srv.base + "/?PROLIFIC_PID=browser1&STUDY_ID=st1&SESSION_ID=se1")
        start = d.find_element(By.ID, "start")
        assert not start.is_enabled()                       # consent first
        d.find_element(By.ID, "agree").click()
        start.click()
        wait(d, lambda: d.current_url.endswith("/rate") and _ready(d))
        assert _count(d) == "0 / 6"
        body = d.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.ARROW_RIGHT)                     # keyboard
        wait(d, lambda: _count(d) == "1 / 6" and _ready(d))
        d.find_element(By.ID, "left").click()                # click on the image
        wait(d, lambda: _count(d) == "2 / 6" and _ready(d))
        d.find_element(By.ID, "choose-same").click()         # tie button
        wait(d, lambda: _count(d) == "3 / 6" and _ready(d))
        _shot(d, "study_rate.png")
        d.refresh()                                          # reload mid-study: same place
        wait(d, lambda: _ready(d))
        assert _count(d) == "3 / 6"
        d.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
        wait(d, lambda: _count(d) == "4 / 6" and _ready(d))
        d.find_element(By.ID, "choose-right").click()
        wait(d, lambda: _count(d) == "5 / 6" and _ready(d))
        d.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_DOWN)
        wait(d, lambda: d.current_url.endswith("/done") and d.find_element(By.ID, "code").text)
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        code = con.execute("SELECT value FROM meta WHERE key='completion_code'").fetchone()[0]
        assert d.find_element(By.ID, "code").text == code
        assert d.find_element(By.ID, "redirect").get_attribute("href") == \
            f"https://app.prolific.com/submissions/complete?cc={code}"
        rows = con.execute("SELECT v.choice, v.a_left, v.response_ms FROM votes v WHERE rater_id='browser1' "
                           "ORDER BY seq").fetchall()
        con.close()
        assert len(rows) == 6
        clicked = ["right", "left", "same", "left", "right", "same"]
        for (choice, a_left, rt), side in zip(rows, clicked):
            want = "tie" if side == "same" else ("a" if (side == "left") == bool(a_left) else "b")
            assert choice == want and rt is not None and rt >= 0

        # more raters through the API (preference ours > dih > composite), one with a markup id
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        rank = {"ours": 3, "dih": 2, "composite": 1, "real": 9, "sentinel_retouch": 0}
        for k in range(12):
            pid = "<script>alert(1)</script>" if k == 0 else f"p{k:02d}"
            s = srv.session(PROLIFIC_PID=pid)
            st = srv.json("GET", "/api/state", session=s)[1]
            while st["state"] == "rate":
                ma, mb, a_left = con.execute(
                    "SELECT t.method_a, t.method_b, a.a_left FROM assignments a JOIN tasks t USING (task_id) "
                    "WHERE a.token=?", (st["token"],)).fetchone()
                a_wins = rank[ma] > rank[mb] if (k + len(st["token"])) % 5 else rank[ma] < rank[mb]
                side = "left" if a_wins == bool(a_left) else "right"
                st = srv.json("POST", "/api/vote", {"vote_id": uuid.uuid4().hex, "token": st["token"],
                                                    "choice": side, "response_ms": 900 + 37 * k}, s)[1]
        con.close()
        d.get(srv.base + "/admin?token=" + srv.token)
        wait(d, lambda: len(d.find_elements(By.CSS_SELECTOR, "#scores tr")) > 1)
        assert "<script>alert(1)</script>" in d.find_element(By.ID, "raters").text   # shown as text
        assert d.execute_script("return document.querySelectorAll('#raters script').length") == 0
        wait(d, lambda: d.execute_script("var i = document.getElementById('plot'); return i.complete && i.naturalWidth > 0"))
        d.set_window_size(1280, 1500)
        _shot(d, "study_admin.png")
        d.set_window_size(1280, 900)
    finally:
        srv.stop()
