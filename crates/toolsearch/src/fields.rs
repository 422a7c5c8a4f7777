//! The fields of a [`ToolDoc`] as the index sees them, with their BM25F weights.

use crate::doc::ToolDoc;
use crate::text::{analyze, split_words, stem};

/// Number of indexed fields.
pub(crate) const FIELDS: usize = 5;
/// Index of the server-name field.
pub(crate) const SERVER: usize = 0;
/// Index of the tool-name field.
pub(crate) const NAME: usize = 1;
/// Server name, tool name, description, parameter names, parameter descriptions.
/// The server and tool names decide; parameter text only breaks ties.
pub(crate) const WEIGHTS: [f32; FIELDS] = [3.0, 3.0, 1.0, 0.5, 0.2];
/// Length normalisation per field (BM25 `b`). Server names are all short: none.
pub(crate) const LENGTH_NORM: [f32; FIELDS] = [0.0, 0.5, 0.75, 0.75, 0.75];
/// Raw word pieces considered per piece of text (a description, a parameter's description).
pub(crate) const MAX_PIECES_PER_TEXT: usize = 1024;

/// Calls `emit(field, term)` for every analysed term of `doc`, field by field.
pub(crate) fn for_each_term(doc: &ToolDoc, mut emit: impl FnMut(usize, &str)) {
    server_terms(&doc.server, |t| emit(SERVER, t));
    analyze(&doc.name, MAX_PIECES_PER_TEXT, |t| emit(NAME, t));
    analyze(&doc.description, MAX_PIECES_PER_TEXT, |t| emit(2, t));
    for (name, description) in &doc.params {
        analyze(name, MAX_PIECES_PER_TEXT, |t| emit(3, t));
        analyze(description, MAX_PIECES_PER_TEXT, |t| emit(4, t));
    }
}

/// A server's terms, plus its pieces run together when it has several (`zoho-books` also
/// yields `zohobook`), so both "zoho books" and "zohobooks" find it.
fn server_terms(server: &str, mut emit: impl FnMut(&str)) {
    analyze(server, MAX_PIECES_PER_TEXT, &mut emit);
    let mut joined = String::new();
    let mut pieces = 0;
    split_words(server, MAX_PIECES_PER_TEXT, |p| {
        joined.push_str(p);
        pieces += 1;
    });
    if pieces > 1 {
        emit(&stem(&joined));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_terms(doc: &ToolDoc) -> [Vec<String>; FIELDS] {
        let mut out: [Vec<String>; FIELDS] = Default::default();
        for_each_term(doc, |f, t| out[f].push(t.to_owned()));
        out
    }

    #[test]
    fn fields_are_analysed_separately() {
        let doc = ToolDoc {
            server: "zoho-books".into(),
            name: "createInvoice".into(),
            description: "Create an invoice for a customer".into(),
            params: vec![("customer_id".into(), "The customer".into())],
        };
        let f = field_terms(&doc);
        assert_eq!(f[SERVER], ["zoho", "book", "zohobook"]);
        assert_eq!(f[NAME], ["creat", "invoic"]);
        assert_eq!(f[2], ["creat", "invoic", "customer"]);
        assert_eq!(f[3], ["customer", "id"]);
        assert_eq!(f[4], ["customer"]);
    }

    #[test]
    fn single_piece_server_has_no_compound() {
        let doc = ToolDoc {
            server: "asana".into(),
            ..ToolDoc::default()
        };
        assert_eq!(field_terms(&doc)[SERVER], ["asana"]);
    }
}
