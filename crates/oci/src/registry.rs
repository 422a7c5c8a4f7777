//! A small OCI distribution API client: manifests and blobs by digest, blob upload (monolithic or
//! chunked), manifest PUT, with anonymous, basic and bearer-token auth as public registries do it
//! (`401` + `WWW-Authenticate: Bearer realm=…,service=…,scope=…` → token endpoint → retry).
//!
//! HTTPS always, except hosts explicitly listed as insecure (tests use loopback registries).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use crate::cache::BlobWriter;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::media::MANIFEST_ACCEPT;
use crate::reference::Repository;

/// Registry credentials (used for the token endpoint, or for `Basic` challenges).
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or access token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Client settings.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// `host[:port]` values reached over plain HTTP. Keep to loopback/test registries.
    pub insecure_hosts: Vec<String>,
    /// Credentials per registry `host[:port]`.
    pub credentials: HashMap<String, Credentials>,
}

/// How much of an error body to quote.
const ERROR_BODY_LIMIT: usize = 512;
/// Largest token endpoint answer.
const TOKEN_LIMIT: u64 = 64 << 10;

/// The distribution API client. Cheap to share; caches bearer tokens per (host, scope).
pub struct RegistryClient {
    http: reqwest::Client,
    insecure: HashSet<String>,
    credentials: HashMap<String, Credentials>,
    tokens: Mutex<HashMap<(String, String), String>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

/// A fetched manifest or index: raw bytes (not yet verified) and the served content type.
#[derive(Debug)]
pub struct RawManifest {
    /// Exact bytes as served.
    pub bytes: Bytes,
    /// `Content-Type` header, if any.
    pub content_type: Option<String>,
}

impl RegistryClient {
    /// Builds a client.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let insecure: HashSet<String> = config.insecure_hosts.iter().cloned().collect();
        let allowed = insecure.clone();
        // Blob GETs are often redirected to storage; never downgrade to plain HTTP on the way.
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            let url = attempt.url().clone();
            let host = match (url.host_str(), url.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                _ => String::new(),
            };
            if attempt.previous().len() >= 5 {
                attempt.error("more than 5 redirects")
            } else if url.scheme() != "https" && !allowed.contains(&host) {
                attempt.error(format!("redirect to non-HTTPS {url} refused"))
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .redirect(redirects)
            .user_agent(concat!("gigmcp-oci/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Http {
                url: "<client>".into(),
                source: e,
            })?;
        Ok(Self {
            http,
            insecure,
            credentials: config.credentials,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    fn base(&self, host: &str) -> Result<Url> {
        let scheme = if self.insecure.contains(host) {
            "http"
        } else {
            "https"
        };
        Url::parse(&format!("{scheme}://{host}/v2/")).map_err(|e| Error::InvalidReference {
            input: host.to_owned(),
            reason: e.to_string(),
        })
    }

    fn url(&self, repo: &Repository, tail: &str) -> Result<Url> {
        let base = self.base(&repo.host)?;
        base.join(&format!("{}/{tail}", repo.name))
            .map_err(|e| Error::InvalidReference {
                input: repo.to_string(),
                reason: e.to_string(),
            })
    }

    /// Sends a request built by `build`, answering one auth challenge if needed. `push` asks for
    /// `pull,push` scope.
    async fn send(
        &self,
        repo: &Repository,
        push: bool,
        action: &str,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response> {
        let scope = format!(
            "repository:{}:{}",
            repo.name,
            if push { "pull,push" } else { "pull" }
        );
        let key = (repo.host.clone(), scope.clone());
        let cached = self.tokens.lock().ok().and_then(|t| t.get(&key).cloned());
        let mut req = build(&self.http);
        if let Some(auth) = &cached {
            req = req.header(AUTHORIZATION, auth);
        }
        let resp = self.execute(req, action).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| Error::Auth {
                host: repo.host.clone(),
                reason: "401 without WWW-Authenticate".into(),
            })?;
        let auth = self.answer_challenge(repo, &challenge, &scope).await?;
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(key, auth.clone());
        }
        let resp = self
            .execute(build(&self.http).header(AUTHORIZATION, auth), action)
            .await?;
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            return Err(Error::Auth {
                host: repo.host.clone(),
                reason: format!(
                    "{action}: HTTP {} even with the token; check credentials and scope",
                    resp.status()
                ),
            });
        }
        Ok(resp)
    }

    async fn execute(&self, req: RequestBuilder, action: &str) -> Result<Response> {
        let req = req.build().map_err(|e| Error::Http {
            url: action.to_owned(),
            source: e,
        })?;
        let url = req.url().clone();
        if url.scheme() == "http"
            && !url
                .host_str()
                .is_some_and(|h| self.insecure_host_matches(h, url.port()))
        {
            return Err(Error::InsecureNotAllowed(url.to_string()));
        }
        self.http.execute(req).await.map_err(|e| Error::Http {
            url: url.to_string(),
            source: e,
        })
    }

    fn insecure_host_matches(&self, host: &str, port: Option<u16>) -> bool {
        let with_port = match port {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        self.insecure.contains(&with_port) || self.insecure.contains(host)
    }

    async fn answer_challenge(
        &self,
        repo: &Repository,
        challenge: &str,
        our_scope: &str,
    ) -> Result<String> {
        let auth_err = |reason: String| Error::Auth {
            host: repo.host.clone(),
            reason,
        };
        let (scheme, params) = parse_challenge(challenge)
            .ok_or_else(|| auth_err(format!("unparsable challenge {challenge:?}")))?;
        let creds = self.credentials.get(&repo.host);
        if scheme.eq_ignore_ascii_case("basic") {
            let c = creds.ok_or_else(|| {
                auth_err("the registry wants Basic credentials; none are configured".into())
            })?;
            use base64::Engine as _;
            let raw = format!("{}:{}", c.username, c.password);
            return Ok(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            ));
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(auth_err(format!("unsupported auth scheme {scheme:?}")));
        }
        let realm = params
            .get("realm")
            .ok_or_else(|| auth_err("Bearer challenge without realm".into()))?;
        let mut url =
            Url::parse(realm).map_err(|e| auth_err(format!("bad realm {realm:?}: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = params.get("service") {
                q.append_pair("service", service);
            }
            q.append_pair(
                "scope",
                params.get("scope").map(String::as_str).unwrap_or(our_scope),
            );
        }
        let mut req = self.http.get(url.clone());
        if let Some(c) = creds {
            req = req.basic_auth(&c.username, Some(&c.password));
        }
        let resp = self.execute(req, "token request").await?;
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(auth_err(format!(
                "token endpoint {url} answered HTTP {status}"
            )));
        }
        let body = read_bounded(resp, TOKEN_LIMIT, "token response").await?;
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: TokenAnswer =
            serde_json::from_slice(&body).map_err(Error::json("token response"))?;
        let token = t
            .token
            .or(t.access_token)
            .ok_or_else(|| auth_err("token response without a token".into()))?;
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(auth_err("token endpoint returned an unusable token".into()));
        }
        Ok(format!("Bearer {token}"))
    }

    /// GETs a manifest or index by digest (bytes unverified: the caller hashes them).
    pub async fn get_manifest(
        &self,
        repo: &Repository,
        digest: &Digest,
        limit: u64,
    ) -> Result<RawManifest> {
        let url = self.url(repo, &format!("manifests/{digest}"))?;
        let action = format!("GET manifest {digest}");
        let resp = self
            .send(repo, false, &action, |c| {
                c.get(url.clone()).header(ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        let resp = expect(resp, &repo.host, &action, &[StatusCode::OK]).await?;
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = read_bounded(resp, limit, &format!("manifest {digest}")).await?;
        Ok(RawManifest {
            bytes,
            content_type,
        })
    }

    /// GETs a small blob fully into memory (bounded; unverified).
    pub async fn get_blob_bytes(
        &self,
        repo: &Repository,
        digest: &Digest,
        limit: u64,
    ) -> Result<Bytes> {
        let url = self.url(repo, &format!("blobs/{digest}"))?;
        let action = format!("GET blob {digest}");
        let resp = self
            .send(repo, false, &action, |c| c.get(url.clone()))
            .await?;
        let resp = expect(resp, &repo.host, &action, &[StatusCode::OK]).await?;
        read_bounded(resp, limit, &format!("blob {digest}")).await
    }

    /// Streams a blob into a verifying cache writer; `on_chunk` sees each chunk's length.
    pub async fn get_blob_into(
        &self,
        repo: &Repository,
        digest: &Digest,
        writer: &mut BlobWriter,
        mut on_chunk: impl FnMut(u64),
    ) -> Result<()> {
        let url = self.url(repo, &format!("blobs/{digest}"))?;
        let action = format!("GET blob {digest}");
        let resp = self
            .send(repo, false, &action, |c| c.get(url.clone()))
            .await?;
        let mut resp = expect(resp, &repo.host, &action, &[StatusCode::OK]).await?;
        while let Some(chunk) = resp.chunk().await.map_err(|e| Error::Http {
            url: url.to_string(),
            source: e,
        })? {
            writer.write(&chunk).await?;
            on_chunk(chunk.len() as u64);
        }
        Ok(())
    }

    /// True when the registry already has the blob.
    pub async fn blob_exists(&self, repo: &Repository, digest: &Digest) -> Result<bool> {
        let url = self.url(repo, &format!("blobs/{digest}"))?;
        let resp = self
            .send(repo, true, "HEAD blob", |c| c.head(url.clone()))
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(Error::Registry {
                host: repo.host.clone(),
                action: format!("HEAD blob {digest}"),
                status: s.as_u16(),
                body: String::new(),
            }),
        }
    }

    /// Uploads a blob: one PUT when `chunk_size` is `None`, else PATCH chunks then a closing PUT.
    pub async fn upload_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        data: Bytes,
        chunk_size: Option<usize>,
    ) -> Result<()> {
        let start = self.url(repo, "blobs/uploads/")?;
        let action = format!("start upload of {digest}");
        let resp = self
            .send(repo, true, &action, |c| {
                c.post(start.clone()).header(CONTENT_LENGTH, 0)
            })
            .await?;
        let resp = expect(resp, &repo.host, &action, &[StatusCode::ACCEPTED]).await?;
        let mut location = location(&resp, &start, &repo.host)?;
        if let Some(chunk) = chunk_size.filter(|c| *c > 0) {
            let mut offset = 0usize;
            while offset < data.len() {
                let end = (offset + chunk).min(data.len());
                let part = data.slice(offset..end);
                let range = format!("{offset}-{}", end - 1);
                let action = format!("PATCH chunk {range} of {digest}");
                let loc = location.clone();
                let resp = self
                    .send(repo, true, &action, |c| {
                        c.request(Method::PATCH, loc.clone())
                            .header(CONTENT_TYPE, "application/octet-stream")
                            .header(CONTENT_RANGE, &range)
                            .body(part.clone())
                    })
                    .await?;
                let resp = expect(resp, &repo.host, &action, &[StatusCode::ACCEPTED]).await?;
                location = self::location(&resp, &location, &repo.host)?;
                offset = end;
            }
            let mut url = location.clone();
            url.query_pairs_mut()
                .append_pair("digest", &digest.to_string());
            let action = format!("close upload of {digest}");
            let resp = self
                .send(repo, true, &action, |c| {
                    c.put(url.clone()).header(CONTENT_LENGTH, 0)
                })
                .await?;
            expect(resp, &repo.host, &action, &[StatusCode::CREATED]).await?;
        } else {
            let mut url = location.clone();
            url.query_pairs_mut()
                .append_pair("digest", &digest.to_string());
            let action = format!("PUT blob {digest}");
            let resp = self
                .send(repo, true, &action, |c| {
                    c.put(url.clone())
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .body(data.clone())
                })
                .await?;
            expect(resp, &repo.host, &action, &[StatusCode::CREATED]).await?;
        }
        Ok(())
    }

    /// PUTs a manifest or index under `reference` (a tag or its digest); checks the digest the registry
    /// reports, if any.
    pub async fn put_manifest(
        &self,
        repo: &Repository,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest> {
        let digest = Digest::of(&bytes);
        let url = self.url(repo, &format!("manifests/{reference}"))?;
        let action = format!("PUT manifest {reference}");
        let resp = self
            .send(repo, true, &action, |c| {
                c.put(url.clone())
                    .header(CONTENT_TYPE, media_type)
                    .body(bytes.clone())
            })
            .await?;
        let resp = expect(
            resp,
            &repo.host,
            &action,
            &[StatusCode::CREATED, StatusCode::OK],
        )
        .await?;
        if let Some(reported) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
        {
            digest.verify(
                &Digest::parse(reported)?,
                format!("manifest digest reported by {}", repo.host),
            )?;
        }
        Ok(digest)
    }
}

fn location(resp: &Response, base: &Url, host: &str) -> Result<Url> {
    let loc = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::Registry {
            host: host.to_owned(),
            action: "upload".into(),
            status: resp.status().as_u16(),
            body: "no Location header".into(),
        })?;
    base.join(loc).map_err(|e| Error::Registry {
        host: host.to_owned(),
        action: "upload".into(),
        status: resp.status().as_u16(),
        body: format!("bad Location {loc:?}: {e}"),
    })
}

async fn expect(resp: Response, host: &str, action: &str, ok: &[StatusCode]) -> Result<Response> {
    if ok.contains(&resp.status()) {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let body = read_bounded(resp, ERROR_BODY_LIMIT as u64 * 4, "error body")
        .await
        .unwrap_or_default();
    let mut body = String::from_utf8_lossy(&body).into_owned();
    body.truncate(ERROR_BODY_LIMIT);
    Err(Error::Registry {
        host: host.to_owned(),
        action: action.to_owned(),
        status,
        body,
    })
}

/// Reads a response body, failing once it exceeds `limit`.
async fn read_bounded(mut resp: Response, limit: u64, what: &str) -> Result<Bytes> {
    if resp.content_length().is_some_and(|l| l > limit) {
        return Err(Error::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    let url = resp.url().to_string();
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| Error::Http {
        url: url.clone(),
        source: e,
    })? {
        if buf.len() as u64 + chunk.len() as u64 > limit {
            return Err(Error::TooLarge {
                what: what.to_owned(),
                limit,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// Parses `Scheme k="v",k2="v2"` into the scheme and its parameters.
fn parse_challenge(header: &str) -> Option<(String, HashMap<String, String>)> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.insert(key, value.to_owned());
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    Some((scheme.to_owned(), params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["service"], "registry.example");
        assert_eq!(p["scope"], "repository:a/b:pull");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(s, "Basic");
        assert_eq!(p["realm"], "Registry Realm");
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_none());
    }
}
