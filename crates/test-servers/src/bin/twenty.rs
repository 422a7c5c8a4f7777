//! `twenty`: twenty tools of a made-up issue tracker, each with a description and an input
//! schema of realistic size, for aggregation benchmarks (a profile of many such servers). Every
//! call answers `called <tool> with <arguments>`. `twenty_stateless` is the same server also
//! speaking the stateless revision (2026-07-28).
#![forbid(unsafe_code)]

use gigmcp_test_servers::{Eras, serve_dynamic_in};
use serde_json::{Value, json};

/// (name, description, required string argument, optional integer argument).
const TOOLS: [(&str, &str, &str, &str); 20] = [
    (
        "list_projects",
        "Lists the projects the user can see, newest first.",
        "workspace",
        "limit",
    ),
    (
        "get_project",
        "Returns one project with its settings and members.",
        "project_id",
        "depth",
    ),
    (
        "create_project",
        "Creates a project in a workspace.",
        "name",
        "template",
    ),
    (
        "archive_project",
        "Archives a project; its issues become read-only.",
        "project_id",
        "reason_code",
    ),
    (
        "list_issues",
        "Lists the issues of a project matching a filter.",
        "project_id",
        "limit",
    ),
    (
        "get_issue",
        "Returns one issue with its fields, labels and assignees.",
        "issue_id",
        "depth",
    ),
    (
        "create_issue",
        "Creates an issue with a title and a Markdown body.",
        "title",
        "priority",
    ),
    (
        "update_issue",
        "Changes the title, body or priority of an issue.",
        "issue_id",
        "priority",
    ),
    (
        "close_issue",
        "Closes an issue with a resolution.",
        "issue_id",
        "resolution",
    ),
    (
        "reopen_issue",
        "Reopens a closed issue.",
        "issue_id",
        "delay_minutes",
    ),
    (
        "assign_issue",
        "Assigns an issue to a member of its project.",
        "assignee",
        "position",
    ),
    (
        "add_label",
        "Adds a label to an issue, creating the label if needed.",
        "label",
        "color",
    ),
    (
        "remove_label",
        "Removes a label from an issue.",
        "label",
        "position",
    ),
    (
        "add_comment",
        "Adds a Markdown comment to an issue.",
        "body",
        "reply_to",
    ),
    (
        "list_comments",
        "Lists the comments of an issue, oldest first.",
        "issue_id",
        "limit",
    ),
    (
        "search_issues",
        "Full-text search over issue titles, bodies and comments.",
        "query",
        "limit",
    ),
    (
        "list_members",
        "Lists the members of a project with their roles.",
        "project_id",
        "limit",
    ),
    (
        "get_user",
        "Returns a user's profile: name, e-mail and time zone.",
        "user_id",
        "depth",
    ),
    (
        "list_milestones",
        "Lists the milestones of a project with their due dates.",
        "project_id",
        "limit",
    ),
    (
        "set_milestone",
        "Puts an issue into a milestone.",
        "milestone_id",
        "position",
    ),
];

fn main() {
    run(Eras::Handshake);
}

pub fn run(eras: Eras) {
    let tools = TOOLS
        .iter()
        .map(|(name, description, required, optional)| {
            json!({
                "name": name,
                "description": description,
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        *required: {"type": "string", "description": format!("The {}", required.replace('_', " "))},
                        *optional: {"type": "integer", "minimum": 0, "description": format!("Optional {}", optional.replace('_', " "))}
                    },
                    "required": [required]
                }
            })
        })
        .collect::<Vec<Value>>();
    serve_dynamic_in(eras, "twenty", tools, |name, args| {
        Ok(format!("called {name} with {args}"))
    });
}
