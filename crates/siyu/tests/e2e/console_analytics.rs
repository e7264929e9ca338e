//! Console analytics pages: the funnel, retention and RFM pages over imported events (the golden
//! fixture small-2), checked over HTTP in both languages, for roles with and without
//! `analytics:read`, with bad parameters, and in headless Chromium where ECharts draws the charts.

use crate::{Backend, TestApp, spawn_app};
use fantoccini::error::{CmdError, NewSessionError};
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::header::{ACCEPT_LANGUAGE, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use siyu_analytics::Granularity;
use siyu_domain::access::Role;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct-horse-battery";
const OWNER: &str = "owner@brand.cn";
const ANALYST: &str = "analyst@brand.cn";
const AGENT: &str = "agent@brand.cn";
const ZH: &str = "zh-CN,zh;q=0.9,en;q=0.8";
const EN: &str = "en-US,en;q=0.9";
const STEPS: &str = "Signed Up,Product Added,Checkout Started,Order Completed";
/// The reference engines' funnel over [`STEPS`] in small-2 with a 7-day window.
const FUNNEL: [(&str, u64); 4] =
    [("Signed Up", 1698), ("Product Added", 636), ("Checkout Started", 446), ("Order Completed", 356)];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../siyu-analytics/tests/fixtures").join(name)
}

/// Starts a server with an owner, an analyst and a cs_agent, and (if `events`) small-2's events.
async fn analytics_app(events: bool) -> TestApp {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    let ws = app.owner.workspace_id;
    for (email, name, role) in
        [(OWNER, "王店长", Role::Owner), (ANALYST, "分析师小陈", Role::Analyst), (AGENT, "客服小张", Role::CsAgent)]
    {
        app.services.add_user(ws, email, name, PASSWORD, role).await.unwrap();
    }
    if events {
        let report = siyu::event_import::import(&app.services, &app.owner, &fixture("small-2.parquet"), |_, _| {})
            .await
            .unwrap();
        assert_eq!((report.rows, report.failed), (30_000, 0));
    }
    app
}

/// A client that keeps cookies like a browser and asks for one language.
fn new_client(lang: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT_LANGUAGE, HeaderValue::from_str(lang).unwrap());
    reqwest::Client::builder().cookie_store(true).default_headers(headers).build().unwrap()
}

async fn get(client: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let response = client.get(format!("{}{path}", app.base_url)).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Logs in through the login form (with its CSRF token) and returns the client holding the session.
async fn logged_in(app: &TestApp, email: &str, lang: &str) -> reqwest::Client {
    let client = new_client(lang);
    let (_, page) = get(&client, app, "/login").await;
    let marker = r#"name="_csrf" value=""#;
    let start = page.find(marker).expect("the login page has a CSRF field") + marker.len();
    let csrf = page[start..].split('"').next().unwrap();
    let form = [("_csrf", csrf), ("email", email), ("password", PASSWORD)];
    let response = client.post(format!("{}/login", app.base_url)).form(&form).send().await.unwrap();
    assert_eq!((response.status().as_u16(), response.url().path()), (200, "/customers"), "{email} logs in");
    client
}

/// Returns the HTML from `opening` (e.g. `<table class="data numbers" id="funnel-table"`) to `closing`.
fn fragment<'a>(html: &'a str, opening: &str, closing: &str) -> &'a str {
    let start = html.find(opening).unwrap_or_else(|| panic!("page has {opening}: {html}"));
    let after = start + opening.len();
    let end = html[after..].find(closing).map(|e| after + e).unwrap_or(html.len());
    &html[start..end]
}

/// Returns the funnel table's rows as (event, customers).
fn funnel_rows(page: &str) -> Vec<(String, u64)> {
    let table = fragment(page, r#"id="funnel-table""#, "</table>");
    table
        .split(r#"<tr class="funnel-step""#)
        .skip(1)
        .map(|row| {
            let cell = |class: &str| {
                let opening = format!(r#"<td class="{class}">"#);
                fragment(row, &opening, "</td>")[opening.len()..].to_string()
            };
            (cell("event"), cell("customers").parse().unwrap())
        })
        .collect()
}

fn funnel_path() -> String {
    format!("/analytics/funnel?steps={}&window=7d", STEPS.replace(' ', "%20"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_sees_the_reference_funnel_in_both_languages() {
    let app = analytics_app(true).await;
    let expected: Vec<(String, u64)> = FUNNEL.iter().map(|(event, n)| (event.to_string(), *n)).collect();
    for (lang, heading, column) in [(ZH, "漏斗分析", "总体转化率"), (EN, "Funnel analysis", "Overall conversion")]
    {
        let client = logged_in(&app, ANALYST, lang).await;
        let (_, customers) = get(&client, &app, "/customers").await;
        assert!(customers.contains(r#"id="nav-analytics" href="/analytics/funnel""#), "analysts see the link");
        let (status, page) = get(&client, &app, &funnel_path()).await;
        assert_eq!(status, 200, "{page}");
        assert!(fragment(&page, r#"id="analytics-heading""#, "</h1>").contains(heading), "{lang}");
        assert!(fragment(&page, r#"id="funnel-table""#, "</thead>").contains(column), "{lang}");
        assert_eq!(funnel_rows(&page), expected, "{lang}");
        let table = fragment(&page, r#"id="funnel-table""#, "</table>");
        assert!(table.contains("37.5%"), "636 of 1698 is 37.5 %: {table}");
        // The chart gets the same numbers (HTML-escaped JSON in its data attribute).
        let chart = fragment(&page, r#"id="funnel-chart""#, ">");
        for (_, customers) in FUNNEL {
            assert!(chart.contains(&format!("&#34;value&#34;:{customers}")), "{chart}");
        }
        assert!(page.contains(r#"<script src="/assets/vendor/echarts/echarts.min.js" defer></script>"#));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_funnel_defaults_to_the_first_events_and_the_assets_are_served() {
    let app = analytics_app(true).await;
    let client = logged_in(&app, OWNER, EN).await;
    let (status, page) = get(&client, &app, "/analytics/funnel").await;
    assert_eq!(status, 200);
    let names: Vec<String> =
        app.services.event_index(&app.owner).await.unwrap().names.names().iter().take(4).cloned().collect();
    let shown: Vec<String> = funnel_rows(&page).into_iter().map(|(event, _)| event).collect();
    assert_eq!(shown, names, "the workspace's first four events");
    assert!(page.contains(&format!(r#"name="steps" value="{}""#, names.join(","))), "and the form says so");
    let (status, page) = get(&client, &app, "/analytics/funnel?steps=Signed%20Up,Order%20Completed&window=1d").await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"<option value="1d" selected>1 day</option>"#));
    for asset in ["/assets/vendor/echarts/echarts.min.js", "/assets/analytics.js"] {
        let response = client.get(format!("{}{asset}", app.base_url)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{asset}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_show_the_error_next_to_the_form_with_422() {
    let app = analytics_app(true).await;
    let client = logged_in(&app, ANALYST, EN).await;
    let (status, page) = get(&client, &app, "/analytics/funnel?steps=Signed%20Up,Nope&window=7d").await;
    assert_eq!(status, 422);
    let errors = fragment(&page, r#"id="analytics-errors""#, "</div>");
    assert!(errors.contains(r#"data-field="steps[1]""#) && errors.contains("Step 2"), "{errors}");
    assert!(errors.contains("unknown event &#34;Nope&#34;"), "{errors}");
    assert!(page.contains(r#"id="funnel-form""#) && page.contains(r#"value="Signed Up,Nope""#), "the form is kept");
    assert!(!page.contains(r#"id="funnel-table""#));

    let (status, page) = get(&client, &app, "/analytics/funnel?steps=Signed%20Up,Order%20Completed&window=7y").await;
    assert_eq!(status, 422);
    assert!(fragment(&page, r#"id="analytics-errors""#, "</div>").contains(r#"data-field="window""#));
    let (status, page) = get(&client, &app, "/analytics/funnel?steps=Signed%20Up").await;
    assert_eq!(status, 422);
    assert!(fragment(&page, r#"id="analytics-errors""#, "</div>").contains("at least 2 steps"));

    let zh = logged_in(&app, ANALYST, ZH).await;
    let (status, page) = get(&zh, &app, "/analytics/retention?period=year").await;
    assert_eq!(status, 422);
    let errors = fragment(&page, r#"id="analytics-errors""#, "</div>");
    assert!(errors.contains("周期") && errors.contains("expected day, week or month"), "{errors}");
    let (status, page) = get(&zh, &app, "/analytics/retention?period=week&cohort_event=Nope").await;
    assert_eq!(status, 422);
    assert!(fragment(&page, r#"id="analytics-errors""#, "</div>").contains("入组事件"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cs_agent_gets_403_and_no_analytics_link() {
    let app = analytics_app(true).await;
    let client = logged_in(&app, AGENT, ZH).await;
    for path in ["/analytics/funnel", "/analytics/retention?period=week", "/analytics/rfm"] {
        let (status, page) = get(&client, &app, path).await;
        assert_eq!(status, 403, "{path}");
        assert!(page.contains("无权访问") && page.contains("analytics:read"), "{path}: {page}");
    }
    let (_, page) = get(&client, &app, "/customers").await;
    assert!(!page.contains(r#"id="nav-analytics""#), "the navigation hides analytics");
    let (status, _) = get(&client, &app, "/analytics/funnel?steps=Nope").await;
    assert_eq!(status, 403, "the permission is checked before the parameters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_and_rfm_pages_show_the_domain_answers() {
    let app = analytics_app(true).await;
    let index = app.services.event_index(&app.owner).await.unwrap();
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let retention = index.retention(&tz, Granularity::Week, None, None).unwrap();
    let client = logged_in(&app, ANALYST, EN).await;
    let (status, page) = get(&client, &app, "/analytics/retention?period=week").await;
    assert_eq!(status, 200);
    assert!(page.contains("Retention analysis") && page.contains("Asia/Shanghai"));
    let table = fragment(&page, r#"id="retention-table""#, "</table>");
    let first = &retention.rows[0];
    let row = fragment(table, &format!(r#"<tr data-cohort="{}">"#, first.cohort), "</tr>");
    assert!(row.contains(&format!(r#"<td class="size">{}</td>"#, first.customers)), "{row}");
    assert!(row.contains("100.0%"), "{row}");
    let cohorts = retention.rows.iter().filter(|r| r.period == 0).count();
    assert_eq!(table.matches("<tr data-cohort=").count(), cohorts);
    assert!(table.contains("<th>Week 1</th>"));
    assert!(fragment(&page, r#"id="retention-chart""#, ">").contains("&#34;heatmap&#34;"));

    let rfm = index.rfm(None);
    let (status, page) = get(&client, &app, "/analytics/rfm").await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("Customers with orders: {}", rfm.customers)), "{page}");
    let grid = fragment(&page, r#"id="rfm-grid""#, "</table>");
    let total: u64 =
        grid.split("<td><b>").skip(1).map(|cell| cell.split('<').next().unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(total, rfm.customers, "the R × F grid sums to the scored customers: {grid}");
    assert_eq!(fragment(&page, r#"id="rfm-cells""#, "</table>").matches("<tr data-rfm=").count(), rfm.cells.len());
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("small-2.answers.json")).unwrap()).unwrap();
    let reference: u64 =
        expected["rfm"]["cells"].as_array().unwrap().iter().map(|c| c["customers"].as_u64().unwrap()).sum();
    assert_eq!(rfm.customers, reference, "the page's number is the reference engines'");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_without_events_shows_an_empty_state() {
    let app = analytics_app(false).await;
    let client = logged_in(&app, OWNER, ZH).await;
    for path in ["/analytics/funnel", "/analytics/retention", "/analytics/rfm"] {
        let (status, page) = get(&client, &app, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(fragment(&page, r#"id="analytics-empty""#, "</section>").contains("还没有行为事件"), "{path}");
        assert!(!page.contains("data-chart="), "{path}: no chart without data");
    }
    let (status, page) = get(&client, &app, "/analytics/funnel?steps=A,B").await;
    assert_eq!(status, 200, "with no events the page shows the empty state, not an error");
    assert!(page.contains(r#"id="analytics-empty""#));
}

// ---------------------------------------------------------------------------------------------
// Real browser: the same fantoccini + chromedriver set-up as console.rs, reduced to what these
// tests use.

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long one WebDriver command may take before the test fails instead of hanging.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A chromedriver child process on its own port; killed on drop.
struct Driver {
    process: std::process::Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A headless Chromium session through a chromedriver child process; both end on drop.
struct Browser {
    client: Client,
    test: &'static str,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

async fn attempt<T>(what: &str, command: impl Future<Output = Result<T, CmdError>>) -> Result<T, String> {
    match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
        Ok(result) => result.map_err(|error| format!("{what}: {error}")),
        Err(_) => Err(format!("{what}: chromedriver did not answer within {COMMAND_TIMEOUT:?}")),
    }
}

async fn run<T>(what: &str, command: impl Future<Output = Result<T, CmdError>>) -> T {
    attempt(what, command).await.unwrap_or_else(|error| panic!("{error}"))
}

impl Browser {
    async fn start(test: &'static str) -> Browser {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "console browser tests need {CHROMIUM} and {CHROMEDRIVER} (scripts/test installs them)"
        );
        let profile = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let process = std::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut driver = Driver { process };
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1366,900", format!("--user-data-dir={}", profile.path().display())]}
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("capabilities are a JSON object") };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let webdriver = format!("http://127.0.0.1:{port}");
        // Until chromedriver listens, opening the session fails to connect; anything else is final.
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            match tokio::time::timeout(COMMAND_TIMEOUT, builder.connect(&webdriver)).await {
                Ok(Ok(client)) => break client,
                Ok(Err(NewSessionError::FailedC(error))) => {
                    if let Ok(Some(status)) = driver.process.try_wait() {
                        panic!("chromedriver exited with {status} before it became ready on port {port}");
                    }
                    assert!(Instant::now() < deadline, "chromedriver did not become ready on port {port}: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(Err(error)) => panic!("chromium starts: {error}"),
                Err(_) => panic!("chromium starts: no new session within {COMMAND_TIMEOUT:?}"),
            }
        };
        let browser = Browser { client, test, _driver: driver, _profile: profile };
        let timeouts = TimeoutConfiguration::new(
            Some(Duration::from_secs(10)),
            Some(Duration::from_secs(30)),
            Some(Duration::from_secs(10)),
        );
        run("set timeouts", browser.client.update_timeouts(timeouts)).await;
        browser
    }

    async fn goto(&self, url: &str) {
        run(&format!("go to {url}"), self.client.goto(url)).await;
    }

    async fn path(&self) -> String {
        run("current URL", self.client.current_url()).await.path().to_string()
    }

    /// Finds an element by CSS selector (waiting up to the implicit timeout).
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        run(&format!("no element {css}"), self.client.find(Locator::Css(css))).await
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        run(&format!("click {css}"), element.click()).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        run(&format!("clear {css}"), element.clear()).await;
        run(&format!("type into {css}"), element.send_keys(text)).await;
    }

    async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        run(&format!("text of {css}"), element.text()).await
    }

    /// Waits until the element's visible text contains `expected` (pages load after clicks).
    async fn wait_for_text(&self, css: &str, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // While the next page loads, the element may be missing or stale: that is "not yet".
            let text = match attempt(&format!("no element {css}"), self.client.find(Locator::Css(css))).await {
                Ok(element) => attempt(&format!("text of {css}"), element.text()).await.unwrap_or_else(|error| error),
                Err(error) => error,
            };
            if text.contains(expected) {
                return;
            }
            assert!(Instant::now() < deadline, "{css} shows {text:?}, expected {expected:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Returns the width and height of a chart's canvas once ECharts has drawn it.
    async fn canvas_size(&self, chart: &str) -> (u64, u64) {
        let canvas = self.find(&format!("{chart}[data-chart-ready] canvas")).await;
        let width = run("canvas width", canvas.attr("width")).await.unwrap_or_default();
        let height = run("canvas height", canvas.attr("height")).await.unwrap_or_default();
        (width.parse().unwrap_or(0), height.parse().unwrap_or(0))
    }

    /// Saves a PNG of the page to `<workspace>/test-artifacts/<test>-<name>.png`.
    async fn save_screenshot(&self, name: &str) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .expect("crates/siyu is two levels deep");
        let dir = root.join("test-artifacts");
        let path = dir.join(format!("{}-{name}.png", self.test));
        match attempt("screenshot", self.client.screenshot()).await {
            Ok(png) => {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, png).unwrap();
                eprintln!("screenshot saved to {}", path.display());
            }
            Err(error) => eprintln!("could not take a screenshot: {error}"),
        }
    }

    /// Runs one step of a scenario; if it panics, saves a screenshot first.
    async fn step<T>(&self, name: &str, work: impl Future<Output = T>) -> T {
        match AssertUnwindSafe(work).catch_unwind().await {
            Ok(value) => value,
            Err(panic) => {
                eprintln!("step {name:?} of {} failed", self.test);
                self.save_screenshot(name).await;
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// With `SIYU_SCREENSHOTS` set, saves a tall screenshot of the current page, once `chart` is
    /// drawn again, for a human to review.
    async fn gallery(&self, name: &str, chart: &str) {
        if std::env::var_os("SIYU_SCREENSHOTS").is_none() {
            return;
        }
        run("resize the window", self.client.set_window_size(1366, 1700)).await;
        run("reload", self.client.refresh()).await;
        self.find(&format!("{chart}[data-chart-ready] canvas")).await;
        self.save_screenshot(name).await;
        run("resize the window", self.client.set_window_size(1366, 900)).await;
    }

    async fn log_in(&self, app: &TestApp, email: &str) {
        self.goto(&format!("{}/customers", app.base_url)).await;
        self.type_into("#login-email", email).await;
        self.type_into("#login-password", PASSWORD).await;
        self.click("#login-submit").await;
        self.find("table#customers").await;
        assert_eq!(self.path().await, "/customers");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Close the session now (also while a failed test unwinds) so Chromium quits before
        // chromedriver is killed; see console.rs.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        if runtime.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return;
        }
        let client = self.client.clone();
        tokio::task::block_in_place(|| {
            runtime.block_on(async {
                if let Err(error) = attempt("close the session", client.close()).await {
                    eprintln!("{error}");
                }
            });
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_sees_echarts_draw_the_analytics_pages_in_chromium() {
    let app = analytics_app(true).await;
    let browser = Browser::start("analytics_in_chromium").await;
    browser.step("login", browser.log_in(&app, ANALYST)).await;
    browser
        .step("funnel", async {
            browser.click("a#lang-zh").await;
            browser.wait_for_text("#nav-analytics", "分析").await;
            browser.click("#nav-analytics").await;
            browser.wait_for_text("#analytics-heading", "漏斗分析").await;
            assert_eq!(browser.path().await, "/analytics/funnel");
            browser.type_into("#funnel-steps", STEPS).await;
            browser.click("#funnel-submit").await;
            // The default funnel's table is replaced by the submitted one.
            browser.wait_for_text("#funnel-table tbody", "Checkout Started").await;
            let table = browser.text("#funnel-table tbody").await;
            for (event, customers) in FUNNEL {
                assert!(table.contains(event) && table.contains(&customers.to_string()), "{table}");
            }
            // The canvas appears only once ECharts has drawn the chart.
            let (width, height) = browser.canvas_size("#funnel-chart").await;
            assert!(width > 100 && height > 100, "the funnel canvas is {width}x{height}");
            browser.gallery("funnel", "#funnel-chart").await;
        })
        .await;
    browser
        .step("retention", async {
            browser.click("#analytics-tabs a[href='/analytics/retention']").await;
            browser.find("#retention-table").await;
            let (width, height) = browser.canvas_size("#retention-chart").await;
            assert!(width > 100 && height > 100, "the retention canvas is {width}x{height}");
            browser.gallery("retention", "#retention-chart").await;
        })
        .await;
    browser
        .step("rfm", async {
            browser.click("#analytics-tabs a[href='/analytics/rfm']").await;
            browser.find("#rfm-grid").await;
            let (width, height) = browser.canvas_size("#rfm-chart").await;
            assert!(width > 100 && height > 100, "the RFM canvas is {width}x{height}");
            browser.click("a#lang-en").await;
            browser.wait_for_text("#analytics-heading", "RFM analysis").await;
            browser.find("#rfm-chart[data-chart-ready] canvas").await;
            browser.gallery("rfm-en", "#rfm-chart").await;
        })
        .await;
}
