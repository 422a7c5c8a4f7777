//! Interactive requests (`tools/call`, `prompts/get`, `resources/read`) of stateless clients
//! whose server asks something in the middle: the call's answer, or an `InputRequiredResult`.
//!
//! - A handshake-era server asks with its own requests, in the middle of the call. The client
//!   gets them keyed by the server's request ids, with a `requestState` of the gateway's, and
//!   retries with `inputResponses`; the gateway hands the answers to the server, still working
//!   on the original request, and waits for what comes next; what it reports from then on
//!   (progress) goes to the retry's stream, under the retry's progress token. Answers a first
//!   request already carries are used as they are needed. Such a call is **parked** in this
//!   gateway's memory ([`ParkedCalls`]), so the retry must reach the same replica.
//! - A stateless server's own `InputRequiredResult` is passed through by its backend, its
//!   `requestState` tagged with the server (`s.<server>.…`); a retry carrying such a state is
//!   simply sent on, so nothing is parked and any replica can take it.

use crate::backend::PASSED_STATE_PREFIX;
use crate::caller::{
    CallContext, Caller, InputRequest, Redirect, StatelessCaller, missing_capability,
};
use crate::profiles::ProfileState;
use crate::replay::StreamLog;
use crate::router::Router;
use base64::Engine;
use gigmcp_mcp::jsonrpc::{ErrorObject, Id, code};
use gigmcp_mcp::view::{INPUT_REQUIRED, InputRetry, RequestMeta};
use gigmcp_store::ProfileId;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Calls that may wait for input at once, across all clients.
const MAX_PARKED: usize = 1024;
/// Input requests gathered into one `InputRequiredResult`, at most.
const MAX_INPUTS: usize = 16;
/// How long requests a server sends together are gathered for one answer.
const GATHER_WINDOW: Duration = Duration::from_millis(20);

/// A call running in its own task, so that it can outlive the HTTP request that started it
/// while it waits for the client's input. Dropping it cancels the call (at the backend too).
struct RunningCall {
    inputs: mpsc::Receiver<InputRequest>,
    done: oneshot::Receiver<Result<Value, ErrorObject>>,
    task: tokio::task::AbortHandle,
    /// The client, for the capability checks of what the server asks.
    caller: Caller,
    /// Points the call's related messages (progress) at the retry that resumes it.
    redirect: Arc<Redirect>,
}

impl Drop for RunningCall {
    fn drop(&mut self) {
        self.task.abort();
    }
}

enum Step {
    /// The server asks the client something.
    Input(InputRequest),
    Done(Result<Value, ErrorObject>),
}

/// What one interactive request is.
pub struct Interactive<'a> {
    pub router: &'a Router,
    pub parked: &'a ParkedCalls,
    /// How long a parked call waits for its client's retry.
    pub park_for: Duration,
    pub state: &'a Arc<ProfileState>,
    /// The capabilities the request's `_meta` declares.
    pub capabilities: Value,
    pub id: &'a Id,
    pub method: &'a str,
    /// The request's own SSE stream, if it has one.
    pub related: Option<Arc<StreamLog>>,
}

impl RunningCall {
    fn start(req: &Interactive<'_>, params: Option<Value>) -> Self {
        let (inputs_tx, inputs) = mpsc::channel(4);
        let (done_tx, done) = oneshot::channel();
        let redirect = Arc::new(Redirect::default());
        let caller = Caller::Stateless(Arc::new(StatelessCaller {
            capabilities: req.capabilities.clone(),
            inputs: Some(inputs_tx),
            redirect: Some(redirect.clone()),
        }));
        let ctx = CallContext::new(caller.clone(), Some(req.id.clone()), req.related.clone());
        let (router, state, method) =
            (req.router.clone(), req.state.clone(), req.method.to_owned());
        let task = tokio::spawn(async move {
            let r = router.handle(&state, &ctx, &method, params).await;
            let _ = done_tx.send(r);
        });
        RunningCall {
            inputs,
            done,
            task: task.abort_handle(),
            caller,
            redirect,
        }
    }

    async fn next(&mut self) -> Step {
        tokio::select! {
            biased;
            r = &mut self.done => Step::Done(r.unwrap_or_else(|_| {
                Err(ErrorObject::new(code::INTERNAL_ERROR, "the call ended without an answer"))
            })),
            Some(input) = self.inputs.recv() => Step::Input(input),
        }
    }

    /// `first` and what else the server asks within a short window: requests it sends
    /// together go to the client together.
    async fn gather_round(&mut self, first: InputRequest) -> Vec<InputRequest> {
        let mut inputs = vec![first];
        while inputs.len() < MAX_INPUTS {
            match tokio::time::timeout(GATHER_WINDOW, self.inputs.recv()).await {
                Ok(Some(more)) => inputs.push(more),
                _ => break,
            }
        }
        inputs
    }
}

/// A call waiting for a stateless client's input, under the `requestState` it was given.
struct ParkedCall {
    call: RunningCall,
    /// The server's requests, each under the key the client answers it with.
    waiting: Vec<InputRequest>,
    profile: ProfileId,
    expires: Instant,
}

/// Calls parked until their client retries with `inputResponses`. A call whose client never
/// comes back is dropped (and so cancelled) once its time is up.
#[derive(Default)]
pub struct ParkedCalls {
    map: Mutex<HashMap<String, ParkedCall>>,
}

impl ParkedCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ParkedCall>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn park(&self, token: String, call: ParkedCall) -> bool {
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, c| c.expires > now);
        if map.len() >= MAX_PARKED {
            return false;
        }
        map.insert(token, call);
        true
    }

    fn take(&self, token: &str, profile: ProfileId) -> Option<ParkedCall> {
        let mut map = self.lock();
        let call = map.remove(token)?;
        if call.profile != profile || call.expires <= Instant::now() {
            return None;
        }
        Some(call)
    }
}

impl Interactive<'_> {
    /// Runs the request: its result, or an `InputRequiredResult` (the gateway's own, with the
    /// call parked, or a stateless server's, passed through). Not decorated yet.
    pub async fn run(self, params: Option<Value>) -> Result<Value, ErrorObject> {
        let retry = InputRetry::of(params.as_ref());
        let responses: Map<String, Value> = retry.responses.cloned().unwrap_or_default();
        let mut call = match retry.request_state {
            // (a state a stateless server gave out goes back to that server with the answers)
            Some(token) if !token.starts_with(PASSED_STATE_PREFIX) => {
                let token = token.to_owned();
                self.resume(&token, &responses, params.as_ref()).await?
            }
            _ => RunningCall::start(&self, params),
        };
        loop {
            let first = match call.next().await {
                Step::Done(result) => return result,
                Step::Input(input) => input,
            };
            let inputs = call.gather_round(first).await;
            let waiting = answer_known(inputs, &responses, &call.caller).await?;
            if waiting.is_empty() {
                continue;
            }
            return self.park(call, waiting);
        }
    }

    /// The parked call a retry names, handed the answers it carries; from now on its related
    /// messages go to this retry.
    async fn resume(
        &self,
        token: &str,
        responses: &Map<String, Value>,
        params: Option<&Value>,
    ) -> Result<RunningCall, ErrorObject> {
        let parked = self
            .parked
            .take(token, self.state.profile.id)
            .ok_or_else(|| {
                ErrorObject::new(
                    code::INVALID_PARAMS,
                    "requestState names no request waiting for input here (expired, answered, \
                     or from another gateway): send the request again without it",
                )
            })?;
        if let Some(key) = parked
            .waiting
            .iter()
            .map(|input| &input.key)
            .find(|key| !responses.get(*key).is_some_and(Value::is_object))
        {
            let err = ErrorObject::new(
                code::INVALID_PARAMS,
                format!(
                    "inputResponses must answer {key:?} with an object; the request still \
                     waits for it: retry with the same requestState"
                ),
            );
            // bad input loses nothing: the call stays parked until it expires
            self.parked.park(token.to_owned(), parked);
            return Err(err);
        }
        let progress_token = RequestMeta::of(params).progress_token().cloned();
        parked
            .call
            .redirect
            .retarget(self.related.clone(), progress_token);
        for input in parked.waiting {
            let answer = responses[&input.key].clone();
            input.to.answer(Ok(answer)).await;
        }
        Ok(parked.call)
    }

    /// Parks `call` until the client answers `waiting`; the `InputRequiredResult` that asks it.
    fn park(&self, call: RunningCall, waiting: Vec<InputRequest>) -> Result<Value, ErrorObject> {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut requests = Map::new();
        for input in &waiting {
            let mut request = json!({ "method": input.method });
            if let Some(p) = &input.params {
                request["params"] = p.clone();
            }
            requests.insert(input.key.clone(), request);
        }
        let result = json!({
            "resultType": INPUT_REQUIRED,
            "inputRequests": requests,
            "requestState": token,
        });
        let parked = ParkedCall {
            call,
            waiting,
            profile: self.state.profile.id,
            expires: Instant::now() + self.park_for,
        };
        if !self.parked.park(token, parked) {
            return Err(ErrorObject::new(
                code::SERVER_UNAVAILABLE,
                "too many requests are waiting for input; try again later",
            ));
        }
        Ok(result)
    }
}

/// Answers what the request already carries answers for (a first request may), refuses what
/// needs a capability the client lacks, and returns what remains to be asked.
async fn answer_known(
    inputs: Vec<InputRequest>,
    responses: &Map<String, Value>,
    caller: &Caller,
) -> Result<Vec<InputRequest>, ErrorObject> {
    let mut waiting = Vec::new();
    for input in inputs {
        if let Some(answer) = responses.get(&input.key).filter(|a| a.is_object()) {
            input.to.answer(Ok(answer.clone())).await;
            continue;
        }
        // (only requests the gateway passes on get here: each needs a known capability)
        if let Some(missing) = missing_capability(&input.method, caller) {
            let refusal = ErrorObject::new(code::METHOD_NOT_FOUND, missing.message.clone());
            input.to.answer(Err(refusal)).await;
            return Err(missing);
        }
        waiting.push(input);
    }
    Ok(waiting)
}
