//! Canonical JSON: the byte form every evidence document and manifest is written and hashed in.
//!
//! Rules: the value is first converted to a `serde_json::Value`; object keys are written in
//! sorted (byte-wise) order at every depth, whatever order the type or map declared them in;
//! arrays keep their order (the producers sort them); output is compact (no whitespace) UTF-8
//! with serde_json's string escaping; integers are written as integers. Times are RFC 3339 UTC
//! strings produced by the types themselves. There is no trailing newline. The same value
//! therefore always gives the same bytes, independently of serde_json's `preserve_order`
//! feature.

use serde::Serialize;
use serde_json::Value;

use super::{Error, Result};

/// Serializes `value` canonically. `what` names the document in errors.
pub fn to_vec<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<Vec<u8>> {
    let value = serde_json::to_value(value).map_err(|source| Error::Serialize {
        what: what.to_string(),
        source,
    })?;
    Ok(value_to_vec(&value))
}

/// Writes a JSON value canonically.
pub fn value_to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(v, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(s, out),
        // Scalars: serde_json's own compact form (integers stay integers).
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // Serializing a &str cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_at_every_depth_and_output_is_compact() {
        let v = json!({"b": 1, "a": {"z": [3, {"y": true, "x": null}], "c": "é\n"}});
        assert_eq!(
            String::from_utf8(value_to_vec(&v)).unwrap(),
            r#"{"a":{"c":"é\n","z":[3,{"x":null,"y":true}]},"b":1}"#
        );
    }

    #[test]
    fn struct_field_order_does_not_matter() {
        #[derive(Serialize)]
        struct A {
            zeta: u8,
            alpha: &'static str,
        }
        assert_eq!(
            to_vec(
                &A {
                    zeta: 1,
                    alpha: "x"
                },
                "a"
            )
            .unwrap(),
            br#"{"alpha":"x","zeta":1}"#
        );
    }
}
