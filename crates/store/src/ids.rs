//! Typed row ids, so a profile id is never passed where a server id is expected.

use std::fmt;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// Primary key of a row in `users`.
    UserId
);
id_type!(
    /// Primary key of a row in `profiles`.
    ProfileId
);
id_type!(
    /// Primary key of a row in `servers` (an installed MCP server).
    ServerId
);
id_type!(
    /// Primary key of a row in `credentials`.
    CredentialRowId
);
