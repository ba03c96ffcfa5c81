//! JSON Schema to GBNF: the grammar llama.cpp samples under so that output always parses.
//!
//! Covers the schema language structured outputs use in practice: `type` (one or a list),
//! `properties` with `required`, `items` with `minItems`/`maxItems`, `enum`, `const`,
//! `anyOf`/`oneOf`, single-entry `allOf`, `$ref` into `$defs`/`definitions` (recursion included),
//! `minLength`/`maxLength` on strings, and `minimum: 0, maximum: 1` on numbers (other numeric bounds are
//! not enforced). Keywords that would constrain output in ways a grammar here
//! cannot (`pattern`, `not`, `if`, …) are refused with the path where they appear, rather than
//! silently not enforced. Annotations (`description`, `title`, `format`, …) are ignored.
//!
//! Every repeat inside a number or between tokens is bounded (at most 16 digits in each part of a
//! number, 20 spaces of indentation), so a model cannot spin forever on `0.9999…`; strings and
//! arrays are as long as the schema allows, and [`cut_at`] names the field an answer was cut in
//! when it reached its token limit first.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use aimos_core::ModelError;
use serde_json::{Map, Value};

/// GBNF for the values `schema` accepts, with `root` as the start rule.
pub fn json_schema_to_gbnf(schema: &Value) -> Result<String, ModelError> {
    let mut converter =
        Converter { root: schema, rules: Vec::new(), names: HashSet::new(), refs: HashMap::new() };
    let root = converter.visit(schema, "#", "root")?;
    let mut out = format!("root ::= {root}\n");
    for (name, body) in &converter.rules {
        let _ = writeln!(out, "{name} ::= {body}");
    }
    out.push_str(PRIMITIVES);
    Ok(out)
}

const PRIMITIVES: &str = r#"ws ::= | " " | "\n" [ \t]{0,20}
char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
string ::= "\"" char* "\"" ws
integral-part ::= [0] | [1-9] [0-9]{0,15}
decimal-part ::= [0-9]{1,16}
number ::= "-"? integral-part ("." decimal-part)? ([eE] [-+]? integral-part)? ws
integer ::= "-"? integral-part ws
boolean ::= ("true" | "false") ws
null ::= "null" ws
value ::= object | array | string | number | boolean | null
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws
array ::= "[" ws ( value ("," ws value)* )? "]" ws
"#;

/// Keywords that constrain values in ways this converter cannot enforce.
const UNSUPPORTED: &[&str] = &[
    "pattern",
    "patternProperties",
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "uniqueItems",
    "contains",
    "prefixItems",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "multipleOf",
];

struct Converter<'a> {
    root: &'a Value,
    rules: Vec<(String, String)>,
    names: HashSet<String>,
    /// `$ref` target → rule name, so that recursive schemas refer to themselves.
    refs: HashMap<String, String>,
}

fn invalid(path: &str, reason: impl Into<String>) -> ModelError {
    ModelError::InvalidSchema { path: path.to_owned(), reason: reason.into() }
}

impl<'a> Converter<'a> {
    fn add_rule(&mut self, hint: &str, body: String) -> String {
        let name = self.fresh_name(hint);
        self.rules.push((name.clone(), body));
        name
    }

    fn fresh_name(&mut self, hint: &str) -> String {
        let base: String = hint
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .collect();
        let base = if base.is_empty() || base == "root" { "r".to_owned() } else { base };
        let mut name = base.clone();
        let mut n = 1;
        while is_reserved(&name) || !self.names.insert(name.clone()) {
            name = format!("{base}-{n}");
            n += 1;
        }
        name
    }

    /// A GBNF expression for the values `schema` accepts.
    fn visit(&mut self, schema: &'a Value, path: &str, hint: &str) -> Result<String, ModelError> {
        let object = match schema {
            Value::Bool(true) => return Ok("value".into()),
            Value::Bool(false) => return Err(invalid(path, "`false` accepts no value at all")),
            Value::Object(object) => object,
            other => {
                return Err(invalid(
                    path,
                    format!("a schema must be an object or a boolean, found {other}"),
                ));
            }
        };
        if let Some(keyword) = UNSUPPORTED.iter().find(|k| object.contains_key(**k)) {
            return Err(invalid(
                path,
                format!(
                    "`{keyword}` cannot be enforced while generating; remove it or express it with `enum`"
                ),
            ));
        }
        if let Some(target) = object.get("$ref") {
            return self.visit_ref(target, path);
        }
        if let Some(value) = object.get("const") {
            return Ok(literal(value));
        }
        if let Some(values) = object.get("enum") {
            let values = values
                .as_array()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| invalid(path, "`enum` must be a non-empty array"))?;
            let alternatives: Vec<String> = values.iter().map(literal).collect();
            return Ok(format!("({})", alternatives.join(" | ")));
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(options) = object.get(key) {
                let options = options
                    .as_array()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| invalid(path, format!("`{key}` must be a non-empty array")))?;
                let mut alternatives = Vec::with_capacity(options.len());
                for (idx, option) in options.iter().enumerate() {
                    alternatives.push(self.visit(
                        option,
                        &format!("{path}/{key}/{idx}"),
                        &format!("{hint}-{idx}"),
                    )?);
                }
                return Ok(format!("({})", alternatives.join(" | ")));
            }
        }
        if let Some(all) = object.get("allOf") {
            return match all.as_array().map(Vec::as_slice) {
                Some([only]) => self.visit(only, &format!("{path}/allOf/0"), hint),
                _ => Err(invalid(
                    path,
                    "`allOf` is supported with exactly one schema; merge the others into it",
                )),
            };
        }
        match object.get("type") {
            None => {
                if object.contains_key("properties") {
                    self.visit_object(object, path, hint)
                } else if object.contains_key("items") {
                    self.visit_array(object, path, hint)
                } else {
                    Ok("value".into())
                }
            }
            Some(Value::String(kind)) => self.visit_type(kind, object, path, hint),
            Some(Value::Array(kinds)) if !kinds.is_empty() => {
                let mut alternatives = Vec::with_capacity(kinds.len());
                for kind in kinds {
                    let kind = kind
                        .as_str()
                        .ok_or_else(|| invalid(path, "`type` lists must hold strings"))?;
                    alternatives.push(self.visit_type(
                        kind,
                        object,
                        path,
                        &format!("{hint}-{kind}"),
                    )?);
                }
                Ok(format!("({})", alternatives.join(" | ")))
            }
            Some(other) => Err(invalid(
                path,
                format!("`type` must be a string or a list of strings, found {other}"),
            )),
        }
    }

    fn visit_type(
        &mut self,
        kind: &str,
        object: &'a Map<String, Value>,
        path: &str,
        hint: &str,
    ) -> Result<String, ModelError> {
        match kind {
            "object" => self.visit_object(object, path, hint),
            "array" => self.visit_array(object, path, hint),
            "string" => self.visit_string(object, path, hint),
            "number" => Ok(number_rule(object)),
            "integer" => Ok("integer".into()),
            "boolean" => Ok("boolean".into()),
            "null" => Ok("null".into()),
            other => Err(invalid(
                path,
                format!(
                    "unknown type `{other}`; use object, array, string, number, integer, boolean or null"
                ),
            )),
        }
    }

    fn visit_ref(&mut self, target: &'a Value, path: &str) -> Result<String, ModelError> {
        let target = target.as_str().ok_or_else(|| invalid(path, "`$ref` must be a string"))?;
        if let Some(name) = self.refs.get(target) {
            return Ok(name.clone());
        }
        let pointer = target.strip_prefix('#').ok_or_else(|| {
            invalid(
                path,
                format!(
                    "only references inside the schema (`#/$defs/…`) are supported, not `{target}`"
                ),
            )
        })?;
        let resolved = self.root.pointer(pointer).ok_or_else(|| {
            invalid(path, format!("`$ref` points at `{target}`, which the schema does not define"))
        })?;
        let hint = pointer.rsplit('/').next().unwrap_or("ref").to_owned();
        let name = self.fresh_name(&hint);
        self.refs.insert(target.to_owned(), name.clone());
        let body = self.visit(resolved, target, &hint)?;
        self.rules.push((name.clone(), body));
        Ok(name)
    }

    fn visit_string(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        hint: &str,
    ) -> Result<String, ModelError> {
        let min = bound(object, "minLength", path)?;
        let max = bound(object, "maxLength", path)?;
        if min.is_none() && max.is_none() {
            return Ok("string".into());
        }
        let min = min.unwrap_or(0);
        if max.is_some_and(|max| max < min) {
            return Err(invalid(path, "`maxLength` is smaller than `minLength`"));
        }
        let repeat = match max {
            Some(max) => format!("{{{min},{max}}}"),
            None => format!("{{{min},}}"),
        };
        Ok(self.add_rule(&format!("{hint}-string"), format!("\"\\\"\" char{repeat} \"\\\"\" ws")))
    }

    fn visit_array(
        &mut self,
        object: &'a Map<String, Value>,
        path: &str,
        hint: &str,
    ) -> Result<String, ModelError> {
        let item = match object.get("items") {
            Some(items) => self.visit(items, &format!("{path}/items"), &format!("{hint}-item"))?,
            None => "value".into(),
        };
        let min = bound(object, "minItems", path)?.unwrap_or(0);
        let max = bound(object, "maxItems", path)?;
        if max.is_some_and(|max| max < min) {
            return Err(invalid(path, "`maxItems` is smaller than `minItems`"));
        }
        let body = match max {
            Some(0) => "\"[\" ws \"]\" ws".to_owned(),
            _ => {
                let more_min = min.saturating_sub(1);
                let more = match max {
                    Some(max) => format!("{{{more_min},{}}}", max - 1),
                    None => format!("{{{more_min},}}"),
                };
                let list = format!("{item} (\",\" ws {item}){more}");
                if min == 0 {
                    format!("\"[\" ws ({list})? \"]\" ws")
                } else {
                    format!("\"[\" ws {list} \"]\" ws")
                }
            }
        };
        Ok(self.add_rule(hint, body))
    }

    fn visit_object(
        &mut self,
        object: &'a Map<String, Value>,
        path: &str,
        hint: &str,
    ) -> Result<String, ModelError> {
        let required: Vec<&str> = match object.get("required") {
            None => Vec::new(),
            Some(Value::Array(names)) => names
                .iter()
                .map(|n| {
                    n.as_str().ok_or_else(|| {
                        invalid(path, "`required` must list property names as strings")
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid(path, "`required` must be an array of property names")),
        };
        let properties = match object.get("properties") {
            None if required.is_empty() => return Ok("object".into()),
            None => {
                return Err(invalid(
                    path,
                    format!("`{}` is required but not among `properties`", required[0]),
                ));
            }
            Some(Value::Object(properties)) => properties,
            Some(_) => return Err(invalid(path, "`properties` must be an object")),
        };
        if let Some(missing) = required.iter().find(|name| !properties.contains_key(**name)) {
            return Err(invalid(
                path,
                format!("`{missing}` is required but not among `properties`"),
            ));
        }
        if properties.is_empty() {
            return Ok("object".into());
        }
        let mut required_parts = Vec::new();
        let mut optional_parts = Vec::new();
        for (key, property) in properties {
            let value = self.visit(
                property,
                &format!("{path}/properties/{key}"),
                &format!("{hint}-{key}"),
            )?;
            let pair = format!("{} \":\" ws {value}", literal(&Value::String(key.clone())));
            if required.contains(&key.as_str()) {
                required_parts.push(pair);
            } else {
                optional_parts.push(pair);
            }
        }
        // Optional properties keep their order; any subset of them may appear, comma separated.
        let optional_rule = self.optional_chain(hint, &optional_parts);
        let mut body = String::from("\"{\" ws ");
        body.push_str(&required_parts.join(" \",\" ws "));
        match (&optional_rule, required_parts.is_empty()) {
            (Some(rule), true) => {
                let _ = write!(body, "({rule})? ");
            }
            (Some(rule), false) => {
                let _ = write!(body, " (\",\" ws {rule})? ");
            }
            (None, _) => body.push(' '),
        }
        body.push_str("\"}\" ws");
        Ok(self.add_rule(hint, body))
    }

    /// A rule matching any non-empty, in-order, comma-separated subset of `parts`.
    fn optional_chain(&mut self, hint: &str, parts: &[String]) -> Option<String> {
        let mut next: Option<String> = None;
        for part in parts.iter().rev() {
            let body = match &next {
                None => part.clone(),
                Some(rest) => format!("{part} (\",\" ws {rest})? | {rest}"),
            };
            next = Some(self.add_rule(&format!("{hint}-opt"), body));
        }
        next
    }
}

/// `number`, or a rule for the unit interval when the schema bounds it to `[0, 1]` (confidences).
/// Other bounds are not enforced while generating.
fn number_rule(object: &Map<String, Value>) -> String {
    let bound = |key: &str| object.get(key).and_then(Value::as_f64);
    if bound("minimum") == Some(0.0) && bound("maximum") == Some(1.0) {
        r#"("0" ("." [0-9]{1,6})? | "1" ("." "0"{1,6})?) ws"#.to_owned()
    } else {
        "number".into()
    }
}

/// Where `partial`, a JSON text cut short, stopped: the path of the value being written, as
/// `colour`, `items[2].name` or `$` for the top level; `None` when the text is a complete value.
pub fn cut_at(partial: &str) -> Option<String> {
    enum Frame {
        Object { key: Option<String> },
        Array { index: usize },
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut started = false;
    // Inside a string: its text so far, and whether it is an object's key.
    let mut string: Option<(String, bool)> = None;
    let mut escaped = false;
    let mut expect_key = false;
    for c in partial.chars() {
        if let Some((text, is_key)) = &mut string {
            if escaped {
                escaped = false;
                text.push(c);
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                if *is_key && let Some(Frame::Object { key }) = stack.last_mut() {
                    *key = Some(std::mem::take(text));
                }
                string = None;
            } else {
                text.push(c);
            }
            continue;
        }
        match c {
            '{' => {
                stack.push(Frame::Object { key: None });
                expect_key = true;
            }
            '[' => {
                stack.push(Frame::Array { index: 0 });
                expect_key = false;
            }
            '}' | ']' => {
                stack.pop();
                expect_key = false;
            }
            ',' => match stack.last_mut() {
                Some(Frame::Array { index }) => *index += 1,
                Some(Frame::Object { key }) => {
                    *key = None;
                    expect_key = true;
                }
                None => {}
            },
            ':' => expect_key = false,
            '"' => {
                string = Some((String::new(), expect_key));
                expect_key = false;
            }
            _ => {}
        }
        started |= !c.is_whitespace();
    }
    if stack.is_empty() && string.is_none() && started {
        return None;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(key) } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Object { key: None } => break,
            Frame::Array { index } => {
                let _ = write!(path, "[{index}]");
            }
        }
    }
    Some(if path.is_empty() { "$".to_owned() } else { path })
}

fn is_reserved(name: &str) -> bool {
    matches!(
        name,
        "root"
            | "ws"
            | "char"
            | "string"
            | "integral-part"
            | "decimal-part"
            | "number"
            | "integer"
            | "boolean"
            | "null"
            | "value"
            | "object"
            | "array"
    )
}

fn bound(object: &Map<String, Value>, key: &str, path: &str) -> Result<Option<u64>, ModelError> {
    match object.get(key) {
        None => Ok(None),
        Some(value) => value
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(path, format!("`{key}` must be a non-negative integer"))),
    }
}

/// A GBNF string literal matching `value` written as compact JSON.
fn literal(value: &Value) -> String {
    let json = value.to_string();
    let mut out = String::with_capacity(json.len() + 8);
    out.push('"');
    for c in json.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push_str("\" ws");
    format!("({out})")
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use serde_json::json;

    use super::*;

    /// Converts `schema` and compares the whole grammar (or the error) with `expected`; the
    /// primitive rules every grammar ends with (checked once, in
    /// `every_grammar_ends_with_the_same_primitives`) read as `<primitives>`.
    fn check(schema: Value, expected: Expect) {
        let out = match json_schema_to_gbnf(&schema) {
            Ok(grammar) => {
                let primitives = primitives();
                match grammar.strip_suffix(primitives.as_str()) {
                    Some(own) => format!("{own}<primitives>\n"),
                    None => grammar,
                }
            }
            Err(err) => format!("error: {err}\n"),
        };
        expected.assert_eq(&out);
    }

    /// The rules after `root` in the grammar of the simplest schema.
    fn primitives() -> String {
        let grammar = rules(json!({"type": "null"}));
        grammar.split_once('\n').map(|(_, rest)| rest.to_owned()).unwrap_or_default()
    }

    #[test]
    fn every_grammar_ends_with_the_same_primitives() {
        expect![[r#"
            ws ::= | " " | "\n" [ \t]{0,20}
            char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
            string ::= "\"" char* "\"" ws
            integral-part ::= [0] | [1-9] [0-9]{0,15}
            decimal-part ::= [0-9]{1,16}
            number ::= "-"? integral-part ("." decimal-part)? ([eE] [-+]? integral-part)? ws
            integer ::= "-"? integral-part ws
            boolean ::= ("true" | "false") ws
            null ::= "null" ws
            value ::= object | array | string | number | boolean | null
            object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws
            array ::= "[" ws ( value ("," ws value)* )? "]" ws
        "#]]
        .assert_eq(&primitives());
        assert_eq!(rules(json!({"type": "null"})), format!("root ::= null\n{}", primitives()));
    }

    fn rules(schema: Value) -> String {
        json_schema_to_gbnf(&schema).expect("schema converts")
    }

    #[test]
    fn required_and_optional_properties_keep_their_order() {
        check(
            json!({
                "type": "object",
                "properties": {"a": {"type": "string"}, "b": {"type": "integer"}, "c": {"type": "boolean"}},
                "required": ["a"]
            }),
            expect![[r#"
                root ::= r
                root-opt ::= ("\"c\"" ws) ":" ws boolean
                root-opt-1 ::= ("\"b\"" ws) ":" ws integer ("," ws root-opt)? | root-opt
                r ::= "{" ws ("\"a\"" ws) ":" ws string ("," ws root-opt-1)? "}" ws
                <primitives>
            "#]],
        );
    }

    #[test]
    fn arrays_honour_item_counts() {
        check(
            json!({"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 3}),
            expect![[r#"
                root ::= r
                r ::= "[" ws number ("," ws number){0,2} "]" ws
                <primitives>
            "#]],
        );
        check(
            json!({"type": "array", "items": {"type": "string"}}),
            expect![[r#"
            root ::= r
            r ::= "[" ws (string ("," ws string){0,})? "]" ws
            <primitives>
        "#]],
        );
    }

    #[test]
    fn enums_and_consts_become_literals() {
        check(
            json!({"enum": ["low", "high", 3, null]}),
            expect![[r#"
            root ::= (("\"low\"" ws) | ("\"high\"" ws) | ("3" ws) | ("null" ws))
            <primitives>
        "#]],
        );
        check(
            json!({"const": {"k": [1, true]}}),
            expect![[r#"
            root ::= ("{\"k\":[1,true]}" ws)
            <primitives>
        "#]],
        );
    }

    #[test]
    fn recursive_references_terminate() {
        check(
            json!({
                "$defs": {"node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
                "$ref": "#/$defs/node"
            }),
            expect![[r#"
                root ::= node
                node-children ::= "[" ws (node ("," ws node){0,})? "]" ws
                node-opt ::= ("\"children\"" ws) ":" ws node-children
                node-1 ::= "{" ws (node-opt)? "}" ws
                node ::= node-1
                <primitives>
            "#]],
        );
    }

    #[test]
    fn a_number_bounded_to_the_unit_interval_gets_its_own_rule() {
        check(
            json!({"type": "number", "minimum": 0, "maximum": 1}),
            expect![[r#"
            root ::= ("0" ("." [0-9]{1,6})? | "1" ("." "0"{1,6})?) ws
            <primitives>
        "#]],
        );
        check(
            json!({"type": "number", "minimum": 0}),
            expect![[r#"
            root ::= number
            <primitives>
        "#]],
        );
    }

    #[test]
    fn nullable_types_and_alternatives_accept_either() {
        check(
            json!({"type": ["string", "null"]}),
            expect![[r#"
            root ::= (string | null)
            <primitives>
        "#]],
        );
        check(
            json!({"anyOf": [{"type": "integer"}, {"type": "object", "properties": {"n": {"type": "string", "maxLength": 3}}, "required": ["n"]}]}),
            expect![[r#"
                root ::= (integer | root-1)
                root-1-n-string ::= "\"" char{0,3} "\"" ws
                root-1 ::= "{" ws ("\"n\"" ws) ":" ws root-1-n-string "}" ws
                <primitives>
            "#]],
        );
    }

    #[test]
    fn the_insight_schema_as_a_whole() {
        check(
            aimos_core::InsightDraft::schema(),
            expect![[r#"
            root ::= r
            root-diagnosis-string ::= "\"" char{0,300} "\"" ws
            root-plan-item-string ::= "\"" char{0,160} "\"" ws
            root-plan ::= "[" ws root-plan-item-string ("," ws root-plan-item-string){0,4} "]" ws
            root-key-facts-item-string ::= "\"" char{0,160} "\"" ws
            root-key-facts ::= "[" ws (root-key-facts-item-string ("," ws root-key-facts-item-string){0,4})? "]" ws
            root-pitfalls-item-string ::= "\"" char{0,160} "\"" ws
            root-pitfalls ::= "[" ws (root-pitfalls-item-string ("," ws root-pitfalls-item-string){0,2})? "]" ws
            root-reasoning-string ::= "\"" char{0,200} "\"" ws
            r ::= "{" ws ("\"diagnosis\"" ws) ":" ws root-diagnosis-string "," ws ("\"plan\"" ws) ":" ws root-plan "," ws ("\"key_facts\"" ws) ":" ws root-key-facts "," ws ("\"pitfalls\"" ws) ":" ws root-pitfalls "," ws ("\"confidence\"" ws) ":" ws ("0" ("." [0-9]{1,6})? | "1" ("." "0"{1,6})?) ws "," ws ("\"reasoning\"" ws) ":" ws root-reasoning-string "}" ws
            <primitives>
        "#]],
        );
    }

    #[test]
    fn unsupported_and_malformed_schemas_name_the_place() {
        check(
            json!({"type": "object", "properties": {"id": {"type": "string", "pattern": "^a"}}}),
            expect![[r#"
                error: invalid JSON Schema at #/properties/id: `pattern` cannot be enforced while generating; remove it or express it with `enum`
            "#]],
        );
        check(
            json!({"type": "strnig"}),
            expect![[r#"
            error: invalid JSON Schema at #: unknown type `strnig`; use object, array, string, number, integer, boolean or null
        "#]],
        );
        check(
            json!({"type": "object", "properties": {}, "required": ["x"]}),
            expect![[r#"
            error: invalid JSON Schema at #: `x` is required but not among `properties`
        "#]],
        );
        check(
            json!({"$ref": "#/$defs/missing"}),
            expect![[r#"
            error: invalid JSON Schema at #: `$ref` points at `#/$defs/missing`, which the schema does not define
        "#]],
        );
        check(
            json!(42),
            expect![[r#"
            error: invalid JSON Schema at #: a schema must be an object or a boolean, found 42
        "#]],
        );
        check(
            json!({"type": "array", "minItems": 3, "maxItems": 1}),
            expect![[r#"
            error: invalid JSON Schema at #: `maxItems` is smaller than `minItems`
        "#]],
        );
    }

    #[test]
    fn property_names_with_quotes_are_escaped() {
        check(
            json!({"type": "object", "properties": {"say \"hi\"": {"type": "null"}}, "required": ["say \"hi\""]}),
            expect![[r#"
                root ::= r
                r ::= "{" ws ("\"say \\\"hi\\\"\"" ws) ":" ws null "}" ws
                <primitives>
            "#]],
        );
    }

    /// Every schema the grammar takes, the `--verify-schema` checker takes too, and the JSON the
    /// grammar allows passes the check.
    #[test]
    fn a_cut_answer_names_the_field_it_stopped_in() {
        assert_eq!(
            cut_at(r#"{"colour": "red", "confidence": 0.99999"#).as_deref(),
            Some("confidence")
        );
        assert_eq!(cut_at(r#"{"colour": "a \" quote"#).as_deref(), Some("colour"));
        assert_eq!(cut_at(r#"{"a": {"tags": ["x", "y"#).as_deref(), Some("a.tags[1]"));
        assert_eq!(cut_at(r#"{"a": [{"n": 1}, {"n": 2, "#).as_deref(), Some("a[1]"));
        assert_eq!(cut_at(r#"{"colour": "red", "#).as_deref(), Some("$"));
        assert_eq!(cut_at("").as_deref(), Some("$"));
        assert_eq!(cut_at(r#"{"a": [1, 2], "b": "}"}"#), None);
        assert_eq!(cut_at("42"), None);
    }

    #[test]
    fn a_schema_the_grammar_takes_is_one_the_schema_check_takes() {
        let schemas = [
            json!({"type": "object", "properties": {"a": {"type": "string", "maxLength": 4}}, "required": ["a"]}),
            json!({"$defs": {"unit": {"enum": ["s", "ms"]}}, "type": "object", "properties": {"u": {"$ref": "#/$defs/unit"}}, "required": ["u"]}),
            json!({"type": "array", "items": {"anyOf": [{"type": "integer"}, {"const": "x"}]}, "minItems": 1, "maxItems": 3}),
            json!({"type": ["number", "null"], "description": "a reading"}),
            json!({"oneOf": [{"type": "boolean"}, {"type": "object", "properties": {"n": {"type": "integer"}}}]}),
            aimos_core::InsightDraft::schema(),
        ];
        for schema in schemas {
            rules(schema.clone());
            aimos_core::SchemaVerifier::new("s", schema.clone())
                .unwrap_or_else(|err| panic!("{schema}: {err}"));
        }
        let with_ref = json!({"$defs": {"unit": {"enum": ["s", "ms"]}}, "type": "object", "properties": {"u": {"$ref": "#/$defs/unit"}}, "required": ["u"]});
        let verifier = aimos_core::SchemaVerifier::new("s", with_ref).expect("takes it");
        let check = |text: &str| {
            aimos_core::testing::block_on(aimos_core::Verifier::verify(&verifier, "q", text))
                .expect("runs")
                .passed
        };
        assert!(check(r#"{"u": "ms"}"#));
        assert!(!check(r#"{"u": "h"}"#));
    }

    /// Schemas come from users and requests: none makes the converter panic, and neither does
    /// any text given to `cut_at`.
    #[test]
    fn no_schema_makes_the_converter_panic() {
        let seeds: &[&[u8]] = &[
            br#"{"type":"object","properties":{"colour":{"type":"string"},"confidence":{"type":"number","minimum":0,"maximum":1},"shades":{"type":"array","items":{"type":"string","maxLength":9},"minItems":1,"maxItems":3}},"required":["colour"]}"#,
            br##"{"$defs":{"node":{"type":"object","properties":{"next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}}}},"$ref":"#/$defs/node"}"##,
            br#"{"oneOf":[{"enum":["a",1,null,{"b":[true]}]},{"const":"x\"y"},{"type":["integer","boolean"]}],"allOf":[{"type":"string"}]}"#,
        ];
        aimos_core::fuzz::run("grammar", seeds, |input| {
            if let Ok(schema) = serde_json::from_slice::<Value>(input) {
                let _ = json_schema_to_gbnf(&schema);
            }
            let _ = cut_at(&aimos_core::fuzz::text(input));
        });
    }
}
