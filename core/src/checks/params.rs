//! Parsing check parameters with errors that name the field.

use serde::de::DeserializeOwned;

/// Parameters that do not fit the check. The message names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParamError(pub String);

/// Parses `params` (absent means defaults). Parameter structs use
/// `#[serde(default, deny_unknown_fields, rename_all = "camelCase")]`, so serde's message names
/// the unknown or mistyped field.
pub fn parse<P: DeserializeOwned + Default>(
    params: Option<&serde_json::Value>,
) -> Result<P, ParamError> {
    match params {
        None | Some(serde_json::Value::Null) => Ok(P::default()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| ParamError(e.to_string())),
    }
}
