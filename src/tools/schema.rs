//! A light JSON Schema check of tool arguments: `type`, `required`, `properties`, `items`
//! and `enum`. Enough to catch what models get wrong (missing or mistyped fields) without
//! pulling in a full validator; anything else in a schema is accepted as is.

use serde_json::Value;

/// Checks `value` against `schema`; the error names the first offending field.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, value, "arguments")
}

fn check(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        // `true`, `{}` or something we do not understand: accept.
        return Ok(());
    };
    if let Some(ty) = schema.get("type") {
        let ok = match ty {
            Value::String(t) => type_matches(t, value),
            Value::Array(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .any(|t| type_matches(t, value)),
            _ => true,
        };
        if !ok {
            return Err(format!(
                "{at} must be of type {}, got {}",
                type_name_list(ty),
                json_type(value)
            ));
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.contains(value)
    {
        let list: Vec<String> = options.iter().map(Value::to_string).collect();
        return Err(format!("{at} must be one of {}", list.join(", ")));
    }
    if let Value::Object(map) = value {
        if let Some(Value::Array(required)) = schema.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(name) {
                    return Err(format!("{at}: missing required field `{name}`"));
                }
            }
        }
        if let Some(Value::Object(props)) = schema.get("properties") {
            for (name, sub) in props {
                if let Some(v) = map.get(name) {
                    check(sub, v, &format!("{at}.{name}"))?;
                }
            }
            if schema.get("additionalProperties") == Some(&Value::Bool(false))
                && let Some(extra) = map.keys().find(|k| !props.contains_key(*k))
            {
                return Err(format!("{at}: unknown field `{extra}`"));
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        // 3.0 is an integer to JSON Schema; models sometimes write it that way.
        "integer" => {
            value.as_i64().is_some()
                || value.as_u64().is_some()
                || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => true,
    }
}

fn type_name_list(ty: &Value) -> String {
    match ty {
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        Value::String(t) => t.clone(),
        other => other.to_string(),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "n": {"type": "integer"},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "tags": {"type": "array", "items": {"type": "string"}}
            },
            "required": ["path"]
        })
    }

    #[test]
    fn accepts_valid_arguments() {
        assert!(
            validate(
                &schema(),
                &json!({"path": "x", "n": 3, "mode": "a", "tags": ["t"]})
            )
            .is_ok()
        );
    }

    #[test]
    fn reports_missing_and_mistyped_fields() {
        let e = validate(&schema(), &json!({})).unwrap_err();
        assert!(e.contains("missing required field `path`"), "{e}");
        let e = validate(&schema(), &json!({"path": 1})).unwrap_err();
        assert!(e.contains("arguments.path must be of type string"), "{e}");
        let e = validate(&schema(), &json!({"path": "x", "n": 1.5})).unwrap_err();
        assert!(e.contains("arguments.n"), "{e}");
        let e = validate(&schema(), &json!({"path": "x", "mode": "c"})).unwrap_err();
        assert!(e.contains("one of"), "{e}");
        let e = validate(&schema(), &json!({"path": "x", "tags": [1]})).unwrap_err();
        assert!(e.contains("arguments.tags[0]"), "{e}");
        let e = validate(&schema(), &json!([])).unwrap_err();
        assert!(e.contains("type object"), "{e}");
    }
}
