//! What the console tests share: the seeded users' credentials, a cookie-keeping HTTP client that
//! logs in through the login form, HTML fragment helpers, and a headless Chromium [`Browser`]
//! driven through its own chromedriver (with screenshots of failed steps).

use crate::TestApp;
use fantoccini::elements::Element;
use fantoccini::error::{CmdError, NewSessionError};
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::header::{ACCEPT_LANGUAGE, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "correct-horse-battery";
pub const OWNER: &str = "owner@brand.cn";
pub const AGENT: &str = "agent@brand.cn";
pub const ANALYST: &str = "analyst@brand.cn";
pub const ZH: &str = "zh-CN,zh;q=0.9,en;q=0.8";
pub const EN: &str = "en-US,en;q=0.9";

// ---------------------------------------------------------------------------------------------
// HTTP: a client per user, as a browser would keep cookies.

/// A client that keeps cookies like a browser and asks for one language.
pub fn new_client(lang: &str, follow_redirects: bool) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT_LANGUAGE, HeaderValue::from_str(lang).unwrap());
    let policy =
        if follow_redirects { reqwest::redirect::Policy::limited(5) } else { reqwest::redirect::Policy::none() };
    siyu::http_client().cookie_store(true).default_headers(headers).redirect(policy).build().unwrap()
}

/// Returns the value of the first hidden `_csrf` field of a page.
pub fn csrf_in(html: &str) -> String {
    let marker = r#"name="_csrf" value=""#;
    let start = html.find(marker).expect("the page has a CSRF field") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// Returns the HTML from `opening` (e.g. `<table id="customers"`) to just before `closing`.
pub fn fragment<'a>(html: &'a str, opening: &str, closing: &str) -> &'a str {
    let start = html.find(opening).unwrap_or_else(|| panic!("page has {opening}: {html}"));
    let after = start + opening.len();
    let end = html[after..].find(closing).map(|e| after + e).unwrap_or(html.len());
    &html[start..end]
}

pub async fn get(client: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let response = client.get(format!("{}{path}", app.base_url)).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

pub async fn post(client: &reqwest::Client, app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let response = client.post(format!("{}{path}", app.base_url)).form(form).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Submits the login form (with its CSRF token) and returns the status, final path and page.
pub async fn submit_login(
    client: &reqwest::Client,
    app: &TestApp,
    email: &str,
    password: &str,
) -> (u16, String, String) {
    let (_, page) = get(client, app, "/login").await;
    let form = [("_csrf", csrf_in(&page)), ("email", email.to_string()), ("password", password.to_string())];
    let response = client.post(format!("{}/login", app.base_url)).form(&form).send().await.unwrap();
    let (status, path) = (response.status().as_u16(), response.url().path().to_string());
    (status, path, response.text().await.unwrap())
}

/// Logs in a seeded user and returns the client holding the session, checking where they land:
/// the dashboard (`/`) for the owner and the analyst, the customer list for the cs_agent.
pub async fn logged_in(app: &TestApp, email: &str, lang: &str) -> reqwest::Client {
    let client = new_client(lang, true);
    let (status, path, _) = submit_login(&client, app, email, PASSWORD).await;
    let home = if email == AGENT { "/customers" } else { "/" };
    assert_eq!((status, path.as_str()), (200, home), "{email} logs in");
    client
}

// ---------------------------------------------------------------------------------------------
// Real browser: fantoccini over plain HTTP to its own chromedriver, one chromedriver per test.

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long one WebDriver command may take before the test fails instead of hanging.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A chromedriver child process on its own port; killed on drop, so it ends even if the session
/// never starts.
struct Driver {
    process: std::process::Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let process = std::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        Driver { process, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A headless Chromium session through a chromedriver child process; both end on drop.
pub struct Browser {
    client: Client,
    test: &'static str,
    // Dropped in this order after `Browser::drop` has closed the session: chromedriver, then the profile.
    _driver: Driver,
    _profile: tempfile::TempDir,
}

/// Awaits one WebDriver command, giving up after [`COMMAND_TIMEOUT`].
async fn attempt<T>(what: &str, command: impl Future<Output = Result<T, CmdError>>) -> Result<T, String> {
    match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
        Ok(result) => result.map_err(|error| format!("{what}: {error}")),
        Err(_) => Err(format!("{what}: chromedriver did not answer within {COMMAND_TIMEOUT:?}")),
    }
}

/// Awaits one WebDriver command and fails the test if it fails.
async fn run<T>(what: &str, command: impl Future<Output = Result<T, CmdError>>) -> T {
    attempt(what, command).await.unwrap_or_else(|error| panic!("{error}"))
}

impl Browser {
    /// Starts chromedriver on a free port and opens a fresh headless Chromium profile; `test` names
    /// the screenshots.
    pub async fn start(test: &'static str) -> Browser {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "console browser tests need {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver; \
             scripts/test installs them)"
        );
        assert_eq!(
            tokio::runtime::Handle::current().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::MultiThread,
            "browser tests run on a multi-threaded runtime so that dropping the browser can close its session"
        );
        let profile = tempfile::tempdir().unwrap();
        let mut driver = Driver::start();
        let user_data_dir = format!("--user-data-dir={}", profile.path().display());
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1366,900", user_data_dir]}
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("capabilities are a JSON object") };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let webdriver = format!("http://127.0.0.1:{}", driver.port);
        // Until chromedriver listens, opening the session fails to connect; anything else is final.
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            match tokio::time::timeout(COMMAND_TIMEOUT, builder.connect(&webdriver)).await {
                Ok(Ok(client)) => break client,
                Ok(Err(NewSessionError::FailedC(error))) => {
                    if let Ok(Some(status)) = driver.process.try_wait() {
                        panic!("chromedriver exited with {status} before it became ready on port {}", driver.port);
                    }
                    assert!(
                        Instant::now() < deadline,
                        "chromedriver did not become ready on port {}: {error}",
                        driver.port
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(Err(error)) => panic!("chromium starts: {error}"),
                Err(_) => panic!("chromium starts: no new session within {COMMAND_TIMEOUT:?}"),
            }
        };
        let browser = Browser { client, test, _driver: driver, _profile: profile };
        // Charts load ECharts (1 MB) before they draw: allow them a few more seconds than a page.
        let timeouts = TimeoutConfiguration::new(
            Some(Duration::from_secs(10)),
            Some(Duration::from_secs(30)),
            Some(Duration::from_secs(10)),
        );
        run("set timeouts", browser.client.update_timeouts(timeouts)).await;
        browser
    }

    pub async fn goto(&self, url: &str) {
        run(&format!("go to {url}"), self.client.goto(url)).await;
    }

    pub async fn path(&self) -> String {
        run("current URL", self.client.current_url()).await.path().to_string()
    }

    /// Finds an element by CSS selector (waiting up to the implicit timeout).
    pub async fn find(&self, css: &str) -> Element {
        run(&format!("no element {css}"), self.client.find(Locator::Css(css))).await
    }

    pub async fn count(&self, css: &str) -> usize {
        run(&format!("find all {css}"), self.client.find_all(Locator::Css(css))).await.len()
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        run(&format!("click {css}"), element.click()).await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        run(&format!("clear {css}"), element.clear()).await;
        run(&format!("type into {css}"), element.send_keys(text)).await;
    }

    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        run(&format!("text of {css}"), element.text()).await
    }

    /// Waits until the element's visible text contains `expected` (pages load after clicks).
    pub async fn wait_for_text(&self, css: &str, expected: &str) {
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

    /// Waits until ECharts has drawn `chart` and checks that its canvas is at least `min_height` tall
    /// (and 100 px wide); returns the canvas size.
    pub async fn expect_chart(&self, chart: &str, min_height: u64) -> (u64, u64) {
        let (width, height) = self.canvas_size(chart).await;
        assert!(width > 100 && height > min_height, "the {chart} canvas is {width}x{height}");
        (width, height)
    }

    async fn set_window_size(&self, width: u32, height: u32) {
        run(&format!("resize the window to {width}x{height}"), self.client.set_window_size(width, height)).await;
    }

    /// With `SIYU_SCREENSHOTS` set, saves tall screenshots of console pages for a human to review.
    pub async fn gallery(&self, app: &TestApp, pages: &[(&str, &str)]) {
        if std::env::var_os("SIYU_SCREENSHOTS").is_none() {
            return;
        }
        self.set_window_size(1366, 1700).await;
        for (name, path) in pages {
            self.goto(&format!("{}{path}", app.base_url)).await;
            self.find("main").await;
            self.save_screenshot(name).await;
        }
        self.set_window_size(1366, 900).await;
    }

    /// With `SIYU_SCREENSHOTS` set, saves a tall screenshot of the current page once `chart` is
    /// drawn again, for a human to review.
    pub async fn gallery_chart(&self, name: &str, chart: &str) {
        if std::env::var_os("SIYU_SCREENSHOTS").is_none() {
            return;
        }
        self.set_window_size(1366, 1700).await;
        run("reload", self.client.refresh()).await;
        self.find(&format!("{chart}[data-chart-ready] canvas")).await;
        self.save_screenshot(name).await;
        self.set_window_size(1366, 900).await;
    }

    pub async fn source(&self) -> String {
        run("page source", self.client.source()).await
    }

    /// Saves a PNG of the page to `<workspace>/test-artifacts/<test>-<name>.png`.
    pub async fn save_screenshot(&self, name: &str) -> PathBuf {
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
        path
    }

    /// Runs one step of a scenario; if it panics, saves a screenshot first.
    pub async fn step<T>(&self, name: &str, work: impl Future<Output = T>) -> T {
        match AssertUnwindSafe(work).catch_unwind().await {
            Ok(value) => value,
            Err(panic) => {
                eprintln!("step {name:?} of {} failed", self.test);
                self.save_screenshot(name).await;
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// Logs in through the form and waits until the role's home page (`home`) has loaded.
    pub async fn log_in(&self, app: &TestApp, email: &str, home: &str) {
        self.goto(&format!("{}/login", app.base_url)).await;
        self.type_into("#login-email", email).await;
        self.type_into("#login-password", PASSWORD).await;
        self.click("#login-submit").await;
        // The top bar names the user only once logged in.
        self.wait_for_text("#user-email", email).await;
        assert_eq!(self.path().await, home);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Drop cannot await, and fantoccini would only end the session in a background task that
        // races the kill of chromedriver: close it now (also while a failed test unwinds) so
        // Chromium quits, then the fields stop chromedriver and remove the profile.
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
