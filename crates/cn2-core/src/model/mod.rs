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

pub use inventory::{Inventory, Network, NetworkSubnet, SubnetAddresses};
pub use kinds::*;
pub use load::{Document, Manifests, Object, Source, load_paths, load_str, load_str_each};
pub use validate::{FamilyPolicy, LOAD_BALANCER_IPS_ANNOTATION, ServiceAddressing, ServiceKind};

/// Where an object stands: file, document and the object itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file (`-` for stdin).
    pub file: String,
    /// The document's index in the file, from 0.
    pub document: usize,
    /// The object's kind.
    pub kind: String,
    /// The object's `namespace/name` (or name).
    pub name: String,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: document {}: {}",
            self.file, self.document, self.kind
        )?;
        if !self.name.is_empty() {
            write!(f, " {}", self.name)?;
        }
        Ok(())
    }
}

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
    #[error("{place}: field {field}: {message}")]
    Field {
        /// The object.
        place: Box<Place>,
        /// The field, as a path such as `spec.ports[0].port`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Objects contradict each other or refer to something missing.
    #[error("{place}: {message}")]
    Reference {
        /// The offending object.
        place: Box<Place>,
        /// What is wrong.
        message: String,
    },
}
