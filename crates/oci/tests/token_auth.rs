//! Bearer-token auth as public registries do it: a small axum front (token endpoint + gate) in front
//! of a real `docker-registry`. The front answers `401` + `WWW-Authenticate: Bearer realm,service,scope`
//! until the client presents a token from the realm; the realm may itself require credentials.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use common::*;
use gigmcp_oci::pack::LayerCompression;
use gigmcp_oci::{
    Credentials, Error, ImageSource, Progress, PullOptions, Puller, PushTarget, RegistryClient,
};

struct Front {
    backend: String,
    realm: String,
    token: String,
    basic: Option<String>,
    /// Gate with a `Basic` challenge (checked against `basic`) instead of a bearer token.
    basic_gate: bool,
    issued: AtomicUsize,
    http: reqwest::Client,
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    service: String,
    scope: String,
}

async fn token(
    State(f): State<Arc<Front>>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    if q.service != "gig-test"
        || !q.scope.starts_with("repository:gig/")
        || !q.scope.ends_with(":pull")
    {
        return (StatusCode::BAD_REQUEST, "bad service or scope").into_response();
    }
    if let Some(want) = &f.basic {
        let got = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if got != Some(want.as_str()) {
            return (StatusCode::UNAUTHORIZED, "credentials required").into_response();
        }
    }
    f.issued.fetch_add(1, Ordering::SeqCst);
    axum::Json(serde_json::json!({ "token": f.token, "expires_in": 300 })).into_response()
}

async fn gate(State(f): State<Arc<Front>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if f.basic_gate {
        if presented != f.basic.as_deref() {
            let mut resp = StatusCode::UNAUTHORIZED.into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="gig""#),
            );
            return resp;
        }
    } else if presented != Some(format!("Bearer {}", f.token).as_str()) {
        let repo = path
            .strip_prefix("/v2/")
            .and_then(|p| {
                p.split_once("/manifests/")
                    .or_else(|| p.split_once("/blobs/"))
            })
            .map(|(r, _)| r.to_owned())
            .unwrap_or_default();
        let challenge = format!(
            r#"Bearer realm="{}",service="gig-test",scope="repository:{repo}:pull""#,
            f.realm
        );
        let mut resp = (
            StatusCode::UNAUTHORIZED,
            "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}",
        )
            .into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&challenge).unwrap(),
        );
        return resp;
    }
    if req.method() != axum::http::Method::GET {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let mut fwd = f.http.get(format!("http://{}{}", f.backend, path));
    if let Some(a) = req.headers().get(header::ACCEPT) {
        fwd = fwd.header(header::ACCEPT, a);
    }
    let upstream = fwd.send().await.unwrap();
    let mut out = Response::builder().status(upstream.status().as_u16());
    for h in [header::CONTENT_TYPE, header::CONTENT_LENGTH] {
        if let Some(v) = upstream.headers().get(h.as_str()) {
            out = out.header(h.as_str(), v.as_bytes());
        }
    }
    out.body(Body::from(upstream.bytes().await.unwrap()))
        .unwrap()
}

async fn start_front(backend: &str, basic: Option<(&str, &str)>) -> (String, Arc<Front>) {
    start_front_with(backend, basic, false).await
}

async fn start_front_with(
    backend: &str,
    basic: Option<(&str, &str)>,
    basic_gate: bool,
) -> (String, Arc<Front>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let front = Arc::new(Front {
        backend: backend.to_owned(),
        realm: format!("http://{host}/token"),
        token: format!("tok-{}", std::process::id()),
        basic: basic.map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        }),
        basic_gate,
        issued: AtomicUsize::new(0),
        http: reqwest::Client::new(),
    });
    let app = axum::Router::new()
        .route("/token", get(token))
        .fallback(gate)
        .with_state(front.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (host, front)
}

async fn publish(reg: &Registry) -> gigmcp_oci::Digest {
    let img = image(
        vec![tar_of(vec![file("bin/app", b"authenticated")])],
        LayerCompression::Gzip,
    );
    let target: PushTarget = format!("{}/gig/private:v1", reg.host).parse().unwrap();
    let client = RegistryClient::new(gigmcp_oci::ClientConfig {
        insecure_hosts: vec![reg.host.clone()],
        ..Default::default()
    })
    .unwrap();
    img.push(&client, &target, None).await.unwrap();
    img.manifest_digest
}

fn puller(front: &str, cache: &std::path::Path, creds: Option<Credentials>) -> Puller {
    let mut opts = PullOptions::new(cache);
    opts.client.insecure_hosts.push(front.to_owned());
    if let Some(c) = creds {
        opts.client.credentials.insert(front.to_owned(), c);
    }
    opts.progress = Progress::Never;
    Puller::new(opts).unwrap()
}

#[tokio::test]
async fn anonymous_bearer_token_flow() {
    let reg = Registry::start();
    let digest = publish(&reg).await;
    let (front, state) = start_front(&reg.host, None).await;
    let work = tempfile::tempdir().unwrap();
    let src: ImageSource = format!("{front}/gig/private@{digest}").parse().unwrap();
    let img = puller(&front, &work.path().join("cache"), None)
        .pull(&src)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(img.rootfs.join("bin/app")).unwrap(),
        b"authenticated"
    );
    // One token for the whole pull: it is cached per (registry, scope).
    assert_eq!(state.issued.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn token_endpoint_with_credentials() {
    let reg = Registry::start();
    let digest = publish(&reg).await;
    let (front, state) = start_front(&reg.host, Some(("alice", "s3cret"))).await;
    let src: ImageSource = format!("{front}/gig/private@{digest}").parse().unwrap();

    let work = tempfile::tempdir().unwrap();
    let e = puller(&front, &work.path().join("cache"), None)
        .pull(&src)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Auth { ref reason, .. } if reason.contains("401")),
        "{e:?}"
    );
    let wrong = Credentials {
        username: "alice".into(),
        password: "nope".into(),
    };
    let e = puller(&front, &work.path().join("cache"), Some(wrong))
        .pull(&src)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Auth { .. }), "{e:?}");
    assert_eq!(state.issued.load(Ordering::SeqCst), 0);

    let right = Credentials {
        username: "alice".into(),
        password: "s3cret".into(),
    };
    let img = puller(&front, &work.path().join("cache"), Some(right))
        .pull(&src)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(img.rootfs.join("bin/app")).unwrap(),
        b"authenticated"
    );
    assert_eq!(state.issued.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn basic_challenge_uses_configured_credentials() {
    let reg = Registry::start();
    let digest = publish(&reg).await;
    let (front, _state) = start_front_with(&reg.host, Some(("bob", "pw")), true).await;
    let src: ImageSource = format!("{front}/gig/private@{digest}").parse().unwrap();
    let work = tempfile::tempdir().unwrap();
    let e = puller(&front, &work.path().join("cache"), None)
        .pull(&src)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Auth { ref reason, .. } if reason.contains("Basic")),
        "{e:?}"
    );
    let creds = Credentials {
        username: "bob".into(),
        password: "pw".into(),
    };
    let img = puller(&front, &work.path().join("cache"), Some(creds))
        .pull(&src)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(img.rootfs.join("bin/app")).unwrap(),
        b"authenticated"
    );
}
