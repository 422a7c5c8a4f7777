//! Shared by the gateway's bench binaries.

/// The JSON-RPC answer in a body that is JSON or an SSE stream (tool calls stream when the
/// client accepts it, as SDK clients do).
pub fn answer_of(body: &[u8]) -> &[u8] {
    if body.first() == Some(&b'{') {
        return body;
    }
    let text = std::str::from_utf8(body).unwrap();
    let last = text
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("data: "))
        .find(|d| d.starts_with('{'))
        .expect("an SSE message");
    &body[last.as_ptr() as usize - body.as_ptr() as usize..][..last.len()]
}
