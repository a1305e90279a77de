//! The answer to Vapi's `knowledge-base-request` (vapi-extra §3): the query is the caller's last
//! turn(s) of `messagesOpenAIFormatted`; the answer is `{"documents": [{"content", "similarity",
//! "uuid"}]}` with at most `VOICE_KB_MAX_DOCUMENTS` documents and `VOICE_KB_MAX_CHARS` characters,
//! found within `VOICE_KB_TIMEOUT_MS`. Past the budget, for an unknown org, an empty query or any
//! failure the answer is an empty list: the model then answers without the knowledge base, and
//! the caller never hears an error.

use serde_json::{Value, json};

use crate::core::knowledge;
use crate::domain::knowledge as rules;
use crate::state::VoiceState;
use crate::store::numbers::Route;

/// Always an answer Vapi can use.
pub async fn knowledge_base_request(st: &VoiceState, route: Option<&Route>, msg: &Value) -> Value {
    let outcome =
        |o: &'static str| metrics::counter!("voice_kb_requests_total", "outcome" => o).increment(1);
    let Some(route) = route else {
        outcome("unknown_org");
        return empty();
    };
    let org = route.org_id;
    knowledge::refresh_if_stale(st, org);
    let Some(query) = rules::kb_query(msg) else {
        outcome("no_query");
        return empty();
    };
    let s = &st.settings;
    // Embeddings get two thirds of the budget; full text goes on without them past that.
    let embed_budget = s.kb_timeout * 2 / 3;
    let found = tokio::time::timeout(
        s.kb_timeout,
        knowledge::retrieve(st, org, &query, s.kb_max_documents, embed_budget),
    )
    .await;
    let found = match found {
        Ok(Ok((_, found))) => found,
        Ok(Err(e)) => {
            outcome("error");
            tracing::warn!(error = %e, "knowledge retrieval failed; answering without documents");
            return empty();
        }
        Err(_) => {
            outcome("timeout");
            tracing::warn!(
                budget_ms = s.kb_timeout.as_millis(),
                "knowledge retrieval over budget; answering without documents"
            );
            return empty();
        }
    };
    let hits: Vec<(String, f64)> = found
        .iter()
        .map(|f| {
            (
                format!("{}\n{}", f.hit.heading, f.hit.content),
                f.similarity,
            )
        })
        .collect();
    let ids: Vec<String> = found.iter().map(|f| f.hit.chunk_id.to_string()).collect();
    let fitted = rules::fit(hits, s.kb_max_documents, s.kb_max_chars);
    outcome(if fitted.is_empty() {
        "nothing_found"
    } else {
        "answered"
    });
    let documents: Vec<Value> = fitted
        .into_iter()
        .zip(ids)
        .map(|((content, similarity), uuid)| json!({ "content": content, "similarity": similarity, "uuid": uuid }))
        .collect();
    json!({ "documents": documents })
}

fn empty() -> Value {
    json!({ "documents": [] })
}
