//! The manifest model: typed Kubernetes / CN2 objects and the loader that
//! turns YAML or JSON manifests into them.
//!
//! * [`kinds`] — the object kinds, as small serde structs holding only the
//!   fields cn2 uses;
//! * [`load`] — reading files, directories and stdin, multi-document YAML,
//!   JSON and `kind: List`, with the file, document index and field in every
//!   error;
//! * [`inventory`] — the loaded objects resolved into networks, subnets and
//!   indexes the planner works on.

pub mod inventory;
pub mod kinds;
pub mod load;
mod validate;

pub use inventory::{Inventory, Network};
pub use kinds::*;
pub use load::{Document, Manifests, Object, Source, load_paths, load_str};
pub use validate::{FamilyPolicy, ServiceAddressing, ServiceKind};

/// Errors of reading and resolving manifests.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file or directory could not be read.
    #[error("{path}: {reason}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// A document is not valid YAML or JSON.
    #[error("{file}: document {document}: {message}")]
    Syntax {
        /// The file (`-` for stdin).
        file: String,
        /// The document's index in the file, from 0.
        document: usize,
        /// What is wrong, with line and column where known.
        message: String,
    },
    /// An object of a known kind is malformed.
    #[error("{file}: document {document}: {kind} {name}: field {field}: {message}")]
    Field {
        /// The file (`-` for stdin).
        file: String,
        /// The document's index in the file, from 0.
        document: usize,
        /// The object's kind.
        kind: String,
        /// The object's `namespace/name` (or name).
        name: String,
        /// The field, as a path such as `spec.ports[0].port`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Objects contradict each other or refer to something missing.
    #[error("{file}: document {document}: {kind} {name}: {message}")]
    Reference {
        /// The file of the offending object.
        file: String,
        /// Its document index.
        document: usize,
        /// Its kind.
        kind: String,
        /// Its `namespace/name`.
        name: String,
        /// What is wrong.
        message: String,
    },
}
