//! The dashboard: spend against the smart-only counterfactual, quality retained, the insight
//! memory, calibration, keys and evals, as server-rendered pages under `/ui` with a JSON twin
//! of each under `/ui/api`. No script runs in the pages; charts are SVG drawn here.
//!
//! Access: while the store holds no key, the dashboard answers only connections from this
//! machine that name it in `Host`. Once a key exists, it needs an admin key (`aimos keys
//! create --admin`), as a bearer token or through the login form's cookie. A key sees the
//! shared insights and its own namespace's, never another's.

mod chart;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use aimos_core::{Outcome, RunFilter, Store};
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};
use views::Viewer;

/// What the dashboard shows beyond the store.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `aimos eval` output folders for the evals page (`--eval DIR`).
    pub evals: Vec<PathBuf>,
}

struct Dashboard {
    store: Arc<dyn Store>,
    settings: Settings,
    templates: Environment<'static>,
}

type Shared = Arc<Dashboard>;

/// The cookie the login form sets, holding the admin key.
const COOKIE: &str = "aimos_key";

/// The dashboard's routes over `store`: `/ui…` pages, `/ui/api/…` JSON and `/ui/static/…`.
pub fn router(store: Arc<dyn Store>, settings: Settings) -> Router {
    let dashboard = Arc::new(Dashboard { store, settings, templates: templates() });
    Router::new()
        .route("/ui", get(overview))
        .route("/ui/", get(overview))
        .route("/ui/runs", get(runs))
        .route("/ui/runs/{id}", get(run))
        .route("/ui/insights", get(insights))
        .route("/ui/insights/{id}", get(insight))
        .route("/ui/insights/{id}/feedback", post(feedback))
        .route("/ui/calibration", get(calibration))
        .route("/ui/keys", get(keys))
        .route("/ui/evals", get(evals))
        .route("/ui/evals/{index}/quality-cost.svg", get(eval_plot))
        .route("/ui/api/overview", get(overview))
        .route("/ui/api/runs", get(runs))
        .route("/ui/api/runs/{id}", get(run))
        .route("/ui/api/insights", get(insights))
        .route("/ui/api/insights/{id}", get(insight))
        .route("/ui/api/calibration", get(calibration))
        .route("/ui/api/keys", get(keys))
        .route("/ui/api/evals", get(evals))
        .route("/ui/login", get(login_form).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/static/aimos.css", get(stylesheet))
        .route("/ui/static/favicon.svg", get(favicon))
        .route("/ui/{*rest}", get(unknown_page))
        .with_state(dashboard)
}

/// [`router`] on its own (`aimos ui`): `/` leads to `/ui`, anything else is a 404 page.
pub fn standalone(store: Arc<dyn Store>, settings: Settings) -> Router {
    router(store, settings)
        .route("/", get(|| async { Redirect::to("/ui") }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found; the dashboard is at /ui\n") })
}

fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("macros.html", include_str!("templates/macros.html")),
        ("overview.html", include_str!("templates/overview.html")),
        ("runs.html", include_str!("templates/runs.html")),
        ("run.html", include_str!("templates/run.html")),
        ("insights.html", include_str!("templates/insights.html")),
        ("insight.html", include_str!("templates/insight.html")),
        ("calibration.html", include_str!("templates/calibration.html")),
        ("keys.html", include_str!("templates/keys.html")),
        ("evals.html", include_str!("templates/evals.html")),
        ("login.html", include_str!("templates/login.html")),
        ("error.html", include_str!("templates/error.html")),
    ] {
        env.add_template(name, source).expect("the dashboard's templates parse");
    }
    env.add_filter("urlencode", |v: String| encode(&v));
    env.add_filter("usd", chart::usd);
    env.add_filter("pct", |v: Option<f64>| {
        v.map_or("–".to_owned(), |v| format!("{:.0}%", v * 100.0))
    });
    env.add_filter("num", |v: f64| thousands(v.round() as i64));
    env.add_filter("ms", |v: f64| {
        if v >= 10_000.0 { format!("{:.1} s", v / 1000.0) } else { format!("{v:.0} ms") }
    });
    env.add_filter("fixed", |v: f64, digits: Option<usize>| format!("{v:.*}", digits.unwrap_or(2)));
    env
}

fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Why a request gets no page.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    message: String,
    /// Send the browser to the login form rather than show the message.
    login: bool,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal { status, message: message.into(), login: false }
    }

    fn not_found(what: &str, id: &str) -> Refusal {
        Refusal::new(StatusCode::NOT_FOUND, format!("no {what} `{id}`"))
    }

    fn bad_filter(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, message)
    }

    fn store(err: &aimos_core::StoreError) -> Refusal {
        Refusal::new(StatusCode::SERVICE_UNAVAILABLE, err.to_string())
    }
}

/// How a refusal is shown: an HTML page, or JSON for `/ui/api`.
#[derive(Clone, Copy)]
enum Format {
    Html,
    Json,
}

fn refuse(dashboard: &Dashboard, format: Format, next: &str, refusal: Refusal) -> Response {
    match format {
        Format::Json => (
            refusal.status,
            axum::Json(serde_json::json!({ "error": { "message": refusal.message } })),
        )
            .into_response(),
        Format::Html if refusal.login => {
            Redirect::to(&format!("/ui/login?next={}", encode(next))).into_response()
        }
        Format::Html => {
            let body = dashboard
                .templates
                .get_template("error.html")
                .and_then(|t| {
                    t.render(
                        context! { status => refusal.status.as_u16(), message => refusal.message },
                    )
                })
                .unwrap_or_else(|err| chart::escape(&format!("{}: {err}", refusal.message)));
            (refusal.status, html_headers(), body).into_response()
        }
    }
}

fn encode(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What every page is sent with: no script may run, nothing may frame it.
fn html_headers() -> [(header::HeaderName, HeaderValue); 3] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

/// The secret a request carries: a bearer token, else the login cookie.
fn secret(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|s| s.trim().to_owned());
    bearer.or_else(|| {
        headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
            v.split(';').find_map(|pair| {
                pair.trim()
                    .strip_prefix(COOKIE)
                    .and_then(|rest| rest.strip_prefix('='))
                    .map(str::to_owned)
            })
        })
    })
}

/// Whether the request came over loopback and names this machine in `Host` (a page elsewhere
/// cannot reach a keyless dashboard through a name that resolves here).
fn local(headers: &HeaderMap, peer: Option<SocketAddr>) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    peer.is_some_and(|p| p.ip().is_loopback())
        && matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}

/// Who may see what, or why not.
fn viewer(
    store: &dyn Store,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<Viewer, Refusal> {
    let keys = store.keys().map_err(|err| Refusal::store(&err))?;
    if !keys.iter().any(|k| k.revoked_at.is_none()) {
        return if local(headers, peer) {
            Ok(Viewer::Everything)
        } else {
            Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "while the store holds no key, the dashboard answers only on this machine \
                 (http://127.0.0.1 or http://localhost); to open it from elsewhere, create an \
                 admin key with `aimos keys create --name admin --admin` and log in with it",
            ))
        };
    }
    let Some(secret) = secret(headers) else {
        return Err(Refusal {
            login: true,
            ..Refusal::new(
                StatusCode::UNAUTHORIZED,
                "the dashboard needs an admin key: send `Authorization: Bearer KEY`, or log in at /ui/login",
            )
        });
    };
    let hash = crate::keys::hash_secret(&secret);
    let key = store.key_by_hash(&hash).map_err(|err| Refusal::store(&err))?;
    match key {
        Some(key) if key.revoked_at.is_none() && key.admin => Ok(Viewer::Namespace(key.namespace)),
        Some(key) if key.revoked_at.is_none() => Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "key `{}` is not an admin key; the dashboard needs one (`aimos keys create --name NAME --admin`)",
                key.name
            ),
        )),
        _ => Err(Refusal {
            login: true,
            ..Refusal::new(StatusCode::UNAUTHORIZED, "that key is unknown or revoked")
        }),
    }
}

/// Runs `work` with the viewer on the blocking pool (store calls block).
async fn with_viewer<T: Send + 'static>(
    dashboard: &Shared,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    work: impl FnOnce(&dyn Store, &Viewer) -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    let dashboard = Arc::clone(dashboard);
    let headers = headers.clone();
    tokio::task::spawn_blocking(move || {
        let viewer = viewer(&*dashboard.store, &headers, peer)?;
        work(&*dashboard.store, &viewer)
    })
    .await
    .map_err(|err| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?
}

/// A request for a page: the dashboard, who sent it (the address the server recorded, and the
/// headers), and the URI, which says whether to answer with the page or its JSON.
struct Visit {
    d: Shared,
    peer: Option<SocketAddr>,
    headers: HeaderMap,
    uri: axum::http::Uri,
}

impl axum::extract::FromRequestParts<Shared> for Visit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        d: &Shared,
    ) -> Result<Visit, Self::Rejection> {
        Ok(Visit {
            d: Arc::clone(d),
            peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| *a),
            headers: parts.headers.clone(),
            uri: parts.uri.clone(),
        })
    }
}

impl Visit {
    /// JSON for `/ui/api/…`, a page for the rest: one handler serves both.
    fn format(&self) -> Format {
        if self.uri.path().starts_with("/ui/api/") { Format::Json } else { Format::Html }
    }

    /// Runs `work` for the viewer this request is, on the blocking pool (store calls block).
    async fn load<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Store, &Viewer) -> Result<T, Refusal> + Send + 'static,
    ) -> Result<T, Refusal> {
        with_viewer(&self.d, &self.headers, self.peer, work).await
    }
}

/// A page: the view as JSON or rendered with `template`.
fn page<T: Serialize>(
    dashboard: &Dashboard,
    format: Format,
    template: &str,
    nav: &str,
    json_url: &str,
    view: &T,
    extra: minijinja::Value,
) -> Response {
    match format {
        Format::Json => axum::Json(view).into_response(),
        Format::Html => {
            let rendered = dashboard.templates.get_template(template).and_then(|t| {
                t.render(context! { page => view, nav => nav, json_url => json_url, ..extra })
            });
            match rendered {
                Ok(body) => (html_headers(), body).into_response(),
                Err(err) => refuse(
                    dashboard,
                    Format::Html,
                    "/ui",
                    Refusal::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("the page could not be drawn: {err:#}"),
                    ),
                ),
            }
        }
    }
}

fn query_string(uri: &axum::http::Uri) -> String {
    uri.query().map(|q| format!("?{q}")).unwrap_or_default()
}

// Overview.

async fn overview(visit: Visit) -> Response {
    let format = visit.format();
    let d = &visit.d;
    let found =
        visit.load(|store, _| views::overview(store).map_err(|err| Refusal::store(&err))).await;
    match found {
        Ok(view) => {
            let days: Vec<(String, f64, f64)> = view
                .stats
                .by_day
                .iter()
                .take(31)
                .map(|(day, t)| (day.clone(), t.cost.usd, t.counterfactual.usd))
                .collect();
            let hours: Vec<(String, f64, f64)> = view
                .by_hour
                .iter()
                .map(|p| {
                    (
                        p.period.get(11..).unwrap_or(&p.period).to_owned() + "h",
                        p.cost_usd,
                        p.counterfactual_usd,
                    )
                })
                .collect();
            let extra = context! {
                by_day_chart => minijinja::Value::from_safe_string(chart::spend("Spend and smart-only cost by day", &days)),
                by_hour_chart => minijinja::Value::from_safe_string(chart::spend("Spend and smart-only cost by hour", &hours)),
                savings => view.stats.total.savings(),
            };
            page(d, format, "overview.html", "overview", "/ui/api/overview", &view, extra)
        }
        Err(refusal) => refuse(d, format, "/ui", refusal),
    }
}

// Runs.

/// The runs page's query: every field optional; an empty field is no filter.
#[derive(Debug, Default, Deserialize)]
struct RunsQuery {
    strategy: Option<String>,
    model: Option<String>,
    key: Option<String>,
    insight: Option<String>,
    verdict: Option<String>,
    since: Option<String>,
    until: Option<String>,
    page: Option<String>,
}

fn set(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A date (`2026-11-28`) or an RFC 3339 time starting with one.
fn time_bound(name: &str, value: Option<String>) -> Result<Option<String>, Refusal> {
    let Some(value) = set(value) else { return Ok(None) };
    let b = value.as_bytes();
    let date = b.len() >= 10
        && b[..10]
            .iter()
            .enumerate()
            .all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
        && (b.len() == 10 || b[10] == b'T');
    if date {
        Ok(Some(value))
    } else {
        Err(Refusal::bad_filter(format!(
            "`{name}` must be a date like 2026-11-28 or a time like 2026-11-28T09:30:00Z, not `{value}`"
        )))
    }
}

fn page_number(value: Option<String>) -> Result<usize, Refusal> {
    match set(value) {
        None => Ok(0),
        Some(text) => text.parse::<usize>().ok().filter(|p| *p <= 1_000_000).ok_or_else(|| {
            Refusal::bad_filter(format!("`page` must be a page number from 0, not `{text}`"))
        }),
    }
}

impl RunsQuery {
    fn filter(self) -> Result<(RunFilter, usize), Refusal> {
        let strategy = set(self.strategy)
            .map(|s| {
                s.parse::<aimos_core::Strategy>().map_err(|_| {
                    let names: Vec<&str> =
                        aimos_core::Strategy::ALL.iter().map(|s| s.as_str()).collect();
                    Refusal::bad_filter(format!(
                        "no strategy `{s}`; use one of {}",
                        names.join(", ")
                    ))
                })
            })
            .transpose()?;
        let verdict = set(self.verdict)
            .map(|v| v.parse::<aimos_core::RunVerdict>().map_err(Refusal::bad_filter))
            .transpose()?;
        let filter = RunFilter {
            strategy,
            model: set(self.model),
            key: set(self.key),
            insight: set(self.insight),
            shadow_of: None,
            verdict,
            since: time_bound("since", self.since)?,
            until: time_bound("until", self.until)?,
        };
        Ok((filter, page_number(self.page)?))
    }
}

async fn runs(visit: Visit, query: Result<Query<RunsQuery>, QueryRejection>) -> Response {
    let format = visit.format();
    let d = &visit.d;
    let query = match query {
        Ok(Query(query)) => query,
        Err(_) => {
            return refuse(
                d,
                format,
                "/ui/runs",
                Refusal::bad_filter(
                    "the filter could not be read; use ?strategy=…&model=…&key=…&verdict=…&since=…&until=…&page=…",
                ),
            );
        }
    };
    let found = visit
        .load(move |store, _| {
            let (filter, page) = query.filter()?;
            views::runs(store, filter, page).map_err(|err| Refusal::store(&err))
        })
        .await;
    match found {
        Ok(view) => {
            let json_url = format!("/ui/api/runs{}", query_string(&visit.uri));
            let params = filter_params(&view.filter);
            page(d, format, "runs.html", "runs", &json_url, &view, context! { params => params })
        }
        Err(refusal) => {
            refuse(d, format, &format!("/ui/runs{}", query_string(&visit.uri)), refusal)
        }
    }
}

/// The filter as query parameters, for the pager's links.
fn filter_params(filter: &RunFilter) -> String {
    let mut out = String::new();
    let fields = [
        ("strategy", filter.strategy.map(|s| s.as_str().to_owned())),
        ("model", filter.model.clone()),
        ("key", filter.key.clone()),
        ("insight", filter.insight.clone()),
        ("verdict", filter.verdict.map(|v| v.as_str().to_owned())),
        ("since", filter.since.clone()),
        ("until", filter.until.clone()),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            out.push_str(&format!("&{name}={}", encode(&value)));
        }
    }
    out
}

async fn run(visit: Visit, Path(id): Path<String>) -> Response {
    let format = visit.format();
    let d = &visit.d;
    let lookup = id.clone();
    let found = visit
        .load(move |store, viewer| {
            views::run(store, viewer, &lookup)
                .map_err(|err| Refusal::store(&err))?
                .ok_or_else(|| Refusal::not_found("run", &lookup))
        })
        .await;
    let json_url = format!("/ui/api/runs/{}", encode(&id));
    match found {
        Ok(view) => page(d, format, "run.html", "runs", &json_url, &view, context! {}),
        Err(refusal) => refuse(d, format, &format!("/ui/runs/{}", encode(&id)), refusal),
    }
}

// Insights.

#[derive(Debug, Default, Deserialize)]
struct InsightsQuery {
    q: Option<String>,
    page: Option<String>,
}

async fn insights(visit: Visit, query: Result<Query<InsightsQuery>, QueryRejection>) -> Response {
    let format = visit.format();
    let d = &visit.d;
    let Ok(Query(query)) = query else {
        return refuse(
            d,
            format,
            "/ui/insights",
            Refusal::bad_filter("the search could not be read; use ?q=WORDS&page=N"),
        );
    };
    let found = visit
        .load(move |store, viewer| {
            let page = page_number(query.page)?;
            views::insights(store, viewer, query.q, page).map_err(|err| Refusal::store(&err))
        })
        .await;
    match found {
        Ok(view) => {
            let json_url = format!("/ui/api/insights{}", query_string(&visit.uri));
            let params = view.q.as_deref().map(|q| format!("&q={}", encode(q))).unwrap_or_default();
            page(
                d,
                format,
                "insights.html",
                "insights",
                &json_url,
                &view,
                context! { params => params },
            )
        }
        Err(refusal) => {
            refuse(d, format, &format!("/ui/insights{}", query_string(&visit.uri)), refusal)
        }
    }
}

async fn insight(visit: Visit, Path(id): Path<String>) -> Response {
    let format = visit.format();
    let d = &visit.d;
    let recorded = visit.uri.query().is_some_and(|q| q.split('&').any(|p| p == "recorded=1"));
    let lookup = id.clone();
    let found = visit
        .load(move |store, viewer| {
            views::insight(store, viewer, &lookup)
                .map_err(|err| Refusal::store(&err))?
                .ok_or_else(|| Refusal::not_found("insight", &lookup))
        })
        .await;
    let json_url = format!("/ui/api/insights/{}", encode(&id));
    match found {
        Ok(view) => page(
            d,
            format,
            "insight.html",
            "insights",
            &json_url,
            &view,
            context! { recorded => recorded },
        ),
        Err(refusal) => refuse(d, format, &format!("/ui/insights/{}", encode(&id)), refusal),
    }
}

#[derive(Debug, Deserialize)]
struct FeedbackForm {
    /// `yes` or `no`.
    worked: String,
    #[serde(default)]
    note: String,
}

/// Whether a form post comes from a page of this dashboard: a browser names the page's origin;
/// a post from another site's page is refused.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let site_ok = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|site| matches!(site, "same-origin" | "none"));
    let origin_ok =
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).is_none_or(|origin| {
            origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
        });
    site_ok && origin_ok
}

async fn feedback(
    visit: Visit,
    Path(id): Path<String>,
    form: Result<axum::Form<FeedbackForm>, FormRejection>,
) -> Response {
    let d = &visit.d;
    let back = format!("/ui/insights/{}", encode(&id));
    if !same_origin(&visit.headers) {
        return refuse(
            d,
            Format::Html,
            &back,
            Refusal::new(
                StatusCode::FORBIDDEN,
                "feedback is taken only from the dashboard's own pages",
            ),
        );
    }
    let Ok(axum::Form(form)) = form else {
        return refuse(
            d,
            Format::Html,
            &back,
            Refusal::bad_filter(
                "the feedback form could not be read: it needs worked=yes or worked=no",
            ),
        );
    };
    let passed = match form.worked.as_str() {
        "yes" => true,
        "no" => false,
        other => {
            return refuse(
                d,
                Format::Html,
                &back,
                Refusal::bad_filter(format!("`worked` must be yes or no, not `{other}`")),
            );
        }
    };
    let lookup = id.clone();
    let recorded = visit
        .load(move |store, viewer| {
            let visible = store
                .insight(&lookup)
                .map_err(|err| Refusal::store(&err))?
                .filter(|i| viewer.sees(i));
            if visible.is_none() {
                return Err(Refusal::not_found("insight", &lookup));
            }
            let note = form.note.trim();
            let outcome = Outcome {
                insight_id: lookup.clone(),
                run_id: None,
                passed,
                source: "user".into(),
                note: (!note.is_empty()).then(|| note.chars().take(4000).collect()),
                created_at: aimos_core::ids::now_rfc3339(),
            };
            let updated = store.record_outcome(&outcome).map_err(|err| Refusal::store(&err))?;
            if let Some(insight) = &updated {
                aimos_core::reuse::age(store, insight, passed)
                    .map_err(|err| Refusal::store(&err))?;
            }
            Ok(())
        })
        .await;
    match recorded {
        Ok(()) => Redirect::to(&format!("{back}?recorded=1#outcomes")).into_response(),
        Err(refusal) => refuse(d, Format::Html, &back, refusal),
    }
}

// Calibration, keys, evals.

async fn calibration(visit: Visit) -> Response {
    let format = visit.format();
    let d = &visit.d;
    let found =
        visit.load(|store, _| views::calibration(store).map_err(|err| Refusal::store(&err))).await;
    match found {
        Ok(view) => {
            let charts: Vec<minijinja::Value> = view
                .models
                .iter()
                .map(|m| {
                    minijinja::Value::from_safe_string(chart::reliability(
                        &format!("Reliability of {}", m.smart_model),
                        &m.stated.bins,
                        m.calibrated.as_ref().map(|c| c.bins.as_slice()),
                    ))
                })
                .collect();
            page(
                d,
                format,
                "calibration.html",
                "calibration",
                "/ui/api/calibration",
                &view,
                context! { charts => charts },
            )
        }
        Err(refusal) => refuse(d, format, "/ui/calibration", refusal),
    }
}

async fn keys(visit: Visit) -> Response {
    let format = visit.format();
    let d = &visit.d;
    let found = visit.load(|store, _| views::keys(store).map_err(|err| Refusal::store(&err))).await;
    match found {
        Ok(view) => page(d, format, "keys.html", "keys", "/ui/api/keys", &view, context! {}),
        Err(refusal) => refuse(d, format, "/ui/keys", refusal),
    }
}

async fn evals(visit: Visit) -> Response {
    let format = visit.format();
    let d = &visit.d;
    let dirs = d.settings.evals.clone();
    let found = visit.load(move |_, _| Ok(views::evals(&dirs))).await;
    match found {
        Ok(view) => page(d, format, "evals.html", "evals", "/ui/api/evals", &view, context! {}),
        Err(refusal) => refuse(d, format, "/ui/evals", refusal),
    }
}

async fn eval_plot(visit: Visit, Path(index): Path<String>) -> Response {
    let d = &visit.d;
    let dirs = d.settings.evals.clone();
    let found = visit
        .load(move |_, _| {
            let dir = index
                .parse::<usize>()
                .ok()
                .and_then(|i| dirs.get(i))
                .ok_or_else(|| Refusal::not_found("eval", &index))?;
            std::fs::read(dir.join(views::EVAL_PLOT)).map_err(|err| {
                Refusal::new(StatusCode::NOT_FOUND, format!("no plot in {}: {err}", dir.display()))
            })
        })
        .await;
    match found {
        Ok(svg) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml")),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
                ),
            ],
            svg,
        )
            .into_response(),
        Err(refusal) => refuse(d, Format::Html, "/ui/evals", refusal),
    }
}

// Login.

#[derive(Debug, Default, Deserialize)]
struct Next {
    next: Option<String>,
}

/// Where to go after logging in: a dashboard page, never another site.
fn next_page(next: Option<String>) -> String {
    next.filter(|n| n.starts_with("/ui") && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/ui".to_owned())
}

async fn login_form(
    State(d): State<Shared>,
    next: Result<Query<Next>, QueryRejection>,
) -> Response {
    let next = next_page(next.ok().and_then(|Query(n)| n.next));
    render_login(&d, &next, None, StatusCode::OK)
}

fn render_login(
    d: &Dashboard,
    next: &str,
    message: Option<String>,
    status: StatusCode,
) -> Response {
    match d
        .templates
        .get_template("login.html")
        .and_then(|t| t.render(context! { next => next, message => message, nav => "" }))
    {
        Ok(body) => (status, html_headers(), body).into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    key: String,
    next: Option<String>,
}

async fn login(
    State(d): State<Shared>,
    headers: HeaderMap,
    form: Result<axum::Form<LoginForm>, FormRejection>,
) -> Response {
    let Ok(axum::Form(form)) = form else {
        return render_login(
            &d,
            "/ui",
            Some("the form could not be read".into()),
            StatusCode::BAD_REQUEST,
        );
    };
    let next = next_page(form.next);
    if !same_origin(&headers) {
        return render_login(
            &d,
            &next,
            Some("log in from this dashboard's own page".into()),
            StatusCode::FORBIDDEN,
        );
    }
    let secret = form.key.trim().to_owned();
    let store = Arc::clone(&d.store);
    let checked = tokio::task::spawn_blocking(move || {
        let hash = crate::keys::hash_secret(&secret);
        match store.key_by_hash(&hash) {
            Ok(Some(key)) if key.revoked_at.is_none() && key.admin => Ok(secret),
            Ok(Some(key)) if key.revoked_at.is_none() => Err(format!("key `{}` is not an admin key; create one with `aimos keys create --name NAME --admin`", key.name)),
            Ok(_) => Err("that key is unknown or revoked".to_owned()),
            Err(err) => Err(err.to_string()),
        }
    })
    .await
    .unwrap_or_else(|err| Err(err.to_string()));
    match checked {
        Ok(secret) => {
            let cookie =
                format!("{COOKIE}={secret}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=2592000");
            let mut response = Redirect::to(&next).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(message) => render_login(&d, &next, Some(message), StatusCode::UNAUTHORIZED),
    }
}

async fn logout() -> Response {
    let mut response = Redirect::to("/ui/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("aimos_key=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600")),
        ],
        include_str!("style.css"),
    )
        .into_response()
}

async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml")),
            (header::CACHE_CONTROL, HeaderValue::from_static("max-age=86400")),
        ],
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f5fbf"/><path d="M4 12 8 3l4 9M5.6 9h4.8" stroke="#fff" stroke-width="1.6" fill="none"/></svg>"##,
    )
        .into_response()
}

async fn unknown_page(State(d): State<Shared>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let format = if path.starts_with("/ui/api/") { Format::Json } else { Format::Html };
    refuse(
        &d,
        format,
        "/ui",
        Refusal::new(
            StatusCode::NOT_FOUND,
            format!("no page `{path}`; the dashboard starts at /ui"),
        ),
    )
}
