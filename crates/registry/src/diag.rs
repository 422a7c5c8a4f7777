//! Lint findings: each names the file, the field, what is wrong and how to fix it.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Fails lint and index builds.
    Error,
    /// Reported, does not fail (e.g. a placeholder digest: listed but not installable).
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Path relative to the registry root.
    pub file: String,
    /// Dotted field path, e.g. `credentials[0].inject.format`; `-` for the whole file.
    pub field: String,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{sev}: {}: {}: {} (fix: {})",
            self.file, self.field, self.message, self.fix
        )
    }
}

/// All findings of a lint run, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    pub fn extend(&mut self, other: Report) {
        self.diagnostics.extend(other.diagnostics);
    }
}

/// Collects findings for one file.
pub(crate) struct FileDiags<'a> {
    pub file: &'a str,
    pub out: Vec<Diagnostic>,
}

impl<'a> FileDiags<'a> {
    pub fn new(file: &'a str) -> Self {
        Self {
            file,
            out: Vec::new(),
        }
    }

    pub fn error(
        &mut self,
        field: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.push(Severity::Error, field, message, fix);
    }

    pub fn warning(
        &mut self,
        field: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.push(Severity::Warning, field, message, fix);
    }

    fn push(
        &mut self,
        severity: Severity,
        field: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.out.push(Diagnostic {
            severity,
            file: self.file.to_owned(),
            field: field.into(),
            message: message.into(),
            fix: fix.into(),
        });
    }
}
