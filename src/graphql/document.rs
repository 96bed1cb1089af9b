//! What a GraphQL document costs before anything of it runs, and the input
//! values it carries.
//!
//! - **Tokens** are counted on the text in one linear pass, before the
//!   parser sees it, together with how deeply brackets nest: the parser is
//!   recursive, so a text nested thousands of levels deep must never reach it.
//! - **Fields** are counted as execution would meet them, fragments
//!   expanded. Each fragment is counted once and remembered, with saturating
//!   sums, so a fragment spread twice in a fragment spread twice (and so on)
//!   costs a few steps to count, not the 2^n it would cost to expand.
//! - **Repeated fields** are merged as the specification's CollectFields
//!   does (same response key, same field, same arguments and directives:
//!   one execution, their sub-selections joined), since async-graphql runs
//!   each repetition.
//! - **Input values** (literals in the document and the variables) must not
//!   nest deeper than [`MAX_INPUT_DEPTH`] and no string may hold U+0000,
//!   which PostgreSQL cannot store and SQLite cuts short.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, Field, OperationDefinition, Selection,
    SelectionSet,
};
use async_graphql::parser::{parse_query, Positioned};
use async_graphql::{Name, ServerError, Variables};
use async_graphql_value::{ConstValue, Value};

use crate::recent::Recent;

/// How deeply list and object values may nest in any input.
pub const MAX_INPUT_DEPTH: usize = 32;

/// How deeply brackets (`{`, `[`, `(`) may nest in a document's text. Far
/// above what selection depth and [`MAX_INPUT_DEPTH`] allow together, so
/// those limits give their own messages; it only keeps the parser's stack
/// bounded.
pub const MAX_NESTING: usize = 128;

/// What one document may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Most field selections, fragments expanded.
    pub max_fields: usize,
    /// Most lexical tokens in the text.
    pub max_tokens: usize,
}

/// A refusal with `extensions.code` BAD_USER_INPUT, as every limit answers.
pub fn refusal(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", "BAD_USER_INPUT");
    error.extensions = Some(extensions);
    error
}

/// What the lexical pass found: tokens (counting stops just past `limit`)
/// and the deepest bracket nesting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexed {
    pub tokens: usize,
    pub nesting: usize,
}

/// Counts tokens as the GraphQL lexer sees them (punctuators, names,
/// numbers, strings; whitespace, commas and comments are not tokens), giving
/// up once more than `limit` were seen.
pub fn lex(text: &str, limit: usize) -> Lexed {
    let bytes = text.as_bytes();
    let (mut i, mut tokens, mut depth, mut nesting) = (0, 0usize, 0usize, 0usize);
    while i < bytes.len() && tokens <= limit {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
                tokens += 1;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'"' | b'\n' | b'\r') {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                tokens += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                i += 3;
                tokens += 1;
            }
            b if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b'.') => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || matches!(bytes[i], b'_' | b'-' | b'+' | b'.'))
                {
                    i += 1;
                }
                tokens += 1;
            }
            b => {
                match b {
                    b'{' | b'[' | b'(' => {
                        depth += 1;
                        nesting = nesting.max(depth);
                    }
                    b'}' | b']' | b')' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                // Anything else is one token: a punctuator, or a character
                // the parser will refuse.
                i += 1;
                tokens += 1;
            }
        }
    }
    Lexed { tokens, nesting }
}

/// Refuses a text over the token budget or nested too deeply, before any
/// parsing.
pub fn check_text(text: &str, max_tokens: usize) -> Result<(), ServerError> {
    let lexed = lex(text, max_tokens);
    if lexed.tokens > max_tokens {
        return Err(refusal(format!(
            "the document has more than {max_tokens} tokens; \
             split it, or use variables and fragments"
        )));
    }
    if lexed.nesting > MAX_NESTING {
        return Err(refusal(format!(
            "the document nests brackets more than {MAX_NESTING} levels deep"
        )));
    }
    Ok(())
}

/// Refuses `fields` field selections (see [`count_fields`]) when more than
/// allowed.
pub fn fields_within(fields: usize, max_fields: usize) -> Result<(), ServerError> {
    if fields > max_fields {
        return Err(refusal(format!(
            "the document selects {} fields (fragments expanded); at most {max_fields} are allowed",
            if fields == usize::MAX {
                "too many".to_owned()
            } else {
                fields.to_string()
            }
        )));
    }
    Ok(())
}

/// Parses a text within a budget: tokens and nesting first, then the
/// parser, then the field count — each step linear in what the one before
/// let through.
///
/// Clients send the same few documents over and over: a text parsed
/// recently is copied from [`PARSED`] instead of parsed again (its token,
/// nesting and field budgets are checked on every request all the same).
pub fn parse_within(text: &str, budget: Budget) -> Result<ExecutableDocument, ServerError> {
    check_text(text, budget.max_tokens)?;
    if let Some(parsed) = PARSED.get(text) {
        fields_within(parsed.fields, budget.max_fields)?;
        return Ok(parsed.document.clone());
    }
    let document = parse_query(text).map_err(ServerError::from)?;
    let fields = count_fields(&document);
    fields_within(fields, budget.max_fields)?;
    if text.len() <= PARSED_MAX_TEXT {
        let parsed = Parsed {
            document: document.clone(),
            fields,
        };
        PARSED.insert(text.into(), Arc::new(parsed));
    }
    Ok(document)
}

/// How many parsed documents [`PARSED`] keeps.
pub const PARSED_ENTRIES: usize = 512;

/// The longest text [`PARSED`] keeps (longer ones are parsed every time).
pub const PARSED_MAX_TEXT: usize = 16 * 1024;

/// A document as the parser gave it, with its field count.
struct Parsed {
    document: ExecutableDocument,
    fields: usize,
}

/// Documents parsed recently, by text. Parsing depends on the text alone,
/// so one cache serves every schema and caller.
static PARSED: LazyLock<Recent<Box<str>, Arc<Parsed>>> =
    LazyLock::new(|| Recent::new(PARSED_ENTRIES));

/// The field selections the costliest operation of the document would
/// execute, fragments expanded (saturating at `usize::MAX`). Only one
/// operation runs per request.
pub fn count_fields(document: &ExecutableDocument) -> usize {
    let mut counter = FieldCounter {
        document,
        known: HashMap::new(),
    };
    document
        .operations
        .iter()
        .map(|(_, op)| counter.in_set(&op.node.selection_set.node))
        .max()
        .unwrap_or(0)
}

struct FieldCounter<'a> {
    document: &'a ExecutableDocument,
    /// Fields per fragment; `None` while one is being counted (a cycle,
    /// which validation refuses later, counts nothing).
    known: HashMap<&'a str, Option<usize>>,
}

impl<'a> FieldCounter<'a> {
    fn in_set(&mut self, set: &'a SelectionSet) -> usize {
        set.items.iter().fold(0usize, |total, item| {
            let here = match &item.node {
                Selection::Field(field) => {
                    1usize.saturating_add(self.in_set(&field.node.selection_set.node))
                }
                Selection::InlineFragment(fragment) => {
                    self.in_set(&fragment.node.selection_set.node)
                }
                Selection::FragmentSpread(spread) => {
                    self.in_fragment(spread.node.fragment_name.node.as_str())
                }
            };
            total.saturating_add(here)
        })
    }

    fn in_fragment(&mut self, name: &'a str) -> usize {
        match self.known.get(name) {
            Some(known) => return known.unwrap_or(0),
            None => {
                self.known.insert(name, None);
            }
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            return 0;
        };
        let fields = self.in_set(&fragment.node.selection_set.node);
        self.known.insert(name, Some(fields));
        fields
    }
}

/// Merges repeated fields in every selection set of the document.
pub fn merge_repeated_fields(document: &mut ExecutableDocument) {
    match &mut document.operations {
        DocumentOperations::Single(operation) => {
            merge_in_set(&mut operation.node.selection_set.node)
        }
        DocumentOperations::Multiple(operations) => {
            for operation in operations.values_mut() {
                merge_in_set(&mut operation.node.selection_set.node);
            }
        }
    }
    for fragment in document.fragments.values_mut() {
        merge_in_set(&mut fragment.node.selection_set.node);
    }
}

/// Folds each field into the first sibling field it is identical to (see
/// [`same_field`]): the later one's sub-selections are appended to the
/// earlier one's, which keeps the first occurrence's place and the order
/// of the sub-selections, as CollectFields does. Fields that share a
/// response key but differ are left for validation to refuse.
///
/// Likewise a fragment spread repeated with the same directives is dropped
/// (CollectFields skips a fragment it has visited), and an inline fragment
/// right after an identical one (same type condition and directives) joins
/// it, which changes no order.
fn merge_in_set(set: &mut SelectionSet) {
    let mut kept: Vec<Positioned<Selection>> = Vec::with_capacity(set.items.len());
    let mut by_key: HashMap<Name, Vec<usize>> = HashMap::new();
    let mut spreads: HashMap<Name, Vec<usize>> = HashMap::new();
    for item in std::mem::take(&mut set.items) {
        match item.node {
            Selection::Field(field) => {
                let key = field.node.response_key().node.clone();
                let same = by_key.get(&key).and_then(|candidates| {
                    candidates.iter().copied().find(|&i| {
                        matches!(&kept[i].node, Selection::Field(first) if same_field(&first.node, &field.node))
                    })
                });
                match same.map(|i| &mut kept[i].node) {
                    Some(Selection::Field(first)) => first
                        .node
                        .selection_set
                        .node
                        .items
                        .extend(field.node.selection_set.node.items),
                    _ => {
                        by_key.entry(key).or_default().push(kept.len());
                        kept.push(Positioned::new(Selection::Field(field), item.pos));
                    }
                }
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.clone();
                let seen = spreads.get(&name).is_some_and(|earlier| {
                    earlier.iter().any(|&i| {
                        matches!(&kept[i].node, Selection::FragmentSpread(first)
                            if same_directives(&first.node.directives, &spread.node.directives))
                    })
                });
                if !seen {
                    spreads.entry(name).or_default().push(kept.len());
                    kept.push(Positioned::new(Selection::FragmentSpread(spread), item.pos));
                }
            }
            Selection::InlineFragment(fragment) => match kept.last_mut().map(|last| &mut last.node)
            {
                Some(Selection::InlineFragment(last))
                    if last.node.type_condition.as_ref().map(|t| &t.node.on.node)
                        == fragment
                            .node
                            .type_condition
                            .as_ref()
                            .map(|t| &t.node.on.node)
                        && same_directives(&last.node.directives, &fragment.node.directives) =>
                {
                    last.node
                        .selection_set
                        .node
                        .items
                        .extend(fragment.node.selection_set.node.items)
                }
                _ => kept.push(Positioned::new(
                    Selection::InlineFragment(fragment),
                    item.pos,
                )),
            },
        }
    }
    for item in &mut kept {
        match &mut item.node {
            Selection::Field(field) => merge_in_set(&mut field.node.selection_set.node),
            Selection::InlineFragment(fragment) => {
                merge_in_set(&mut fragment.node.selection_set.node)
            }
            Selection::FragmentSpread(_) => {}
        }
    }
    set.items = kept;
}

/// Same response key, same field, the same arguments written the same way
/// in the same order, and the same directives.
fn same_field(a: &Field, b: &Field) -> bool {
    a.response_key().node == b.response_key().node
        && a.name.node == b.name.node
        && same_arguments(&a.arguments, &b.arguments)
        && same_directives(&a.directives, &b.directives)
}

fn same_arguments(
    a: &[(Positioned<Name>, Positioned<Value>)],
    b: &[(Positioned<Name>, Positioned<Value>)],
) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((an, av), (bn, bv))| an.node == bn.node && same_value(&av.node, &bv.node))
}

fn same_directives(a: &[Positioned<Directive>], b: &[Positioned<Directive>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.node.name.node == b.node.name.node
                && same_arguments(&a.node.arguments, &b.node.arguments)
        })
}

/// Strict equality: unlike `Value`'s `PartialEq`, an enum value never
/// equals a string, and object fields must come in the same order, so two
/// fields merge only when they are written alike.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Variable(a), Value::Variable(b)) => a == b,
        (Value::Null, Value::Null) => true,
        (Value::Number(a), Value::Number(b)) => a == b,
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Boolean(a), Value::Boolean(b)) => a == b,
        (Value::Binary(a), Value::Binary(b)) => a == b,
        (Value::Enum(a), Value::Enum(b)) => a == b,
        (Value::List(a), Value::List(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ak, av), (bk, bv))| ak == bk && same_value(av, bv))
        }
        _ => false,
    }
}

/// Checks every input value — the document's literals (arguments of fields
/// and directives, default values) and the variables — for depth and U+0000.
pub fn check_inputs(
    document: &ExecutableDocument,
    variables: &Variables,
) -> Result<(), ServerError> {
    for (name, value) in variables.iter() {
        check_const(value, &format!("variable `${name}`"), 0)?;
    }
    for (_, operation) in document.operations.iter() {
        check_operation(&operation.node)?;
    }
    for fragment in document.fragments.values() {
        check_directives(&fragment.node.directives)?;
        check_set(&fragment.node.selection_set.node)?;
    }
    Ok(())
}

fn check_operation(operation: &OperationDefinition) -> Result<(), ServerError> {
    for definition in &operation.variable_definitions {
        check_directives(&definition.node.directives)?;
        if let Some(default) = &definition.node.default_value {
            let name = &definition.node.name.node;
            check_const(&default.node, &format!("the default of `${name}`"), 0)?;
        }
    }
    check_directives(&operation.directives)?;
    check_set(&operation.selection_set.node)
}

fn check_set(set: &SelectionSet) -> Result<(), ServerError> {
    for item in &set.items {
        check_directives(item.node.directives())?;
        match &item.node {
            Selection::Field(field) => {
                for (name, value) in &field.node.arguments {
                    let of = format!("`{}`", field.node.name.node);
                    check_literal(&value.node, &mut vec![name.node.as_str()], &of, 0)?;
                }
                check_set(&field.node.selection_set.node)?;
            }
            Selection::InlineFragment(fragment) => check_set(&fragment.node.selection_set.node)?,
            Selection::FragmentSpread(_) => {}
        }
    }
    Ok(())
}

fn check_directives(directives: &[Positioned<Directive>]) -> Result<(), ServerError> {
    for directive in directives {
        for (name, value) in &directive.node.arguments {
            let of = format!("`@{}`", directive.node.name.node);
            check_literal(&value.node, &mut vec![name.node.as_str()], &of, 0)?;
        }
    }
    Ok(())
}

fn too_deep(what: &str) -> ServerError {
    refusal(format!(
        "{what} is nested more than {MAX_INPUT_DEPTH} levels deep"
    ))
}

fn has_nul(what: &str) -> ServerError {
    refusal(format!(
        "{what} contains the character U+0000, which is not accepted in text"
    ))
}

/// `input.structure.objects` (argument of `updateOntology`): where in an
/// argument the fault lies, by the names of the input fields on the way.
fn at(path: &[&str], of: &str) -> String {
    format!("`{}` (argument of {of})", path.join("."))
}

fn check_literal<'a>(
    value: &'a Value,
    path: &mut Vec<&'a str>,
    of: &str,
    depth: usize,
) -> Result<(), ServerError> {
    match value {
        Value::String(s) if s.contains('\0') => Err(has_nul(&at(path, of))),
        Value::List(_) | Value::Object(_) if depth >= MAX_INPUT_DEPTH => {
            Err(too_deep(&at(path, of)))
        }
        Value::List(items) => items
            .iter()
            .try_for_each(|item| check_literal(item, path, of, depth + 1)),
        Value::Object(fields) => fields.iter().try_for_each(|(key, item)| {
            path.push(key.as_str());
            let checked = check_literal(item, path, of, depth + 1);
            path.pop();
            checked
        }),
        _ => Ok(()),
    }
}

fn check_const(value: &ConstValue, what: &str, depth: usize) -> Result<(), ServerError> {
    match value {
        ConstValue::String(s) if s.contains('\0') => Err(has_nul(what)),
        ConstValue::List(_) | ConstValue::Object(_) if depth >= MAX_INPUT_DEPTH => {
            Err(too_deep(what))
        }
        ConstValue::List(items) => items
            .iter()
            .try_for_each(|item| check_const(item, what, depth + 1)),
        ConstValue::Object(fields) => fields.iter().try_for_each(|(key, item)| {
            if key.contains('\0') {
                return Err(has_nul(what));
            }
            check_const(item, what, depth + 1)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ExecutableDocument {
        parse_query(text).unwrap()
    }

    #[test]
    fn tokens_are_counted_as_the_lexer_sees_them() {
        assert_eq!(lex("{ me { id } }", 100).tokens, 6);
        assert_eq!(
            lex("query Q($a: [Int!]! = [1, -2.5e3]) { f(a: $a) }", 100).tokens,
            26
        );
        assert_eq!(
            lex("{ f(s: \"a { b } \\\" c\") # { comment\n }", 100).tokens,
            8
        );
        assert_eq!(
            lex("{ f(s: \"\"\" x \\\"\"\" y \"\"\") ...F }", 100).tokens,
            10
        );
        assert_eq!(
            lex("{ a b c d e f }", 3).tokens,
            4,
            "counting stops past the limit"
        );
        assert_eq!(lex("{ f(a: [[[1]]]) }", 100).nesting, 5);
    }

    #[test]
    fn fragments_are_counted_once_however_often_they_are_spread() {
        let mut text = String::from("{ ...F0 }\n");
        for i in 0..70 {
            text.push_str(&format!(
                "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        text.push_str("fragment F70 on Query { me { id } }");
        assert_eq!(count_fields(&parse(&text)), usize::MAX);
        assert_eq!(
            count_fields(&parse(
                "query A { me { id } } query B { me { id email ...U ... on Query { me { id } } } } \
                 fragment U on User { name id }"
            )),
            7
        );
        let cyclic = "{ ...A } fragment A on Query { me { id } ...B } fragment B on Query { ...A }";
        assert_eq!(count_fields(&parse(cyclic)), 2);
    }

    fn merged(text: &str) -> String {
        let mut document = parse(text);
        merge_repeated_fields(&mut document);
        let (_, op) = document.operations.iter().next().unwrap();
        render(&op.node.selection_set.node)
    }

    fn render(set: &SelectionSet) -> String {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(f) if f.node.selection_set.node.items.is_empty() => {
                    f.node.response_key().node.to_string()
                }
                Selection::Field(f) => format!(
                    "{}{{{}}}",
                    f.node.response_key().node,
                    render(&f.node.selection_set.node)
                ),
                Selection::InlineFragment(f) => {
                    format!("...{{{}}}", render(&f.node.selection_set.node))
                }
                Selection::FragmentSpread(s) => format!("...{}", s.node.fragment_name.node),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn identical_fields_are_merged_as_collect_fields_does() {
        assert_eq!(
            merged("{ me { id } me { id } me { email } }"),
            "me{id email}"
        );
        assert_eq!(
            merged("{ a: me { id } me { id } a: me { name } }"),
            "a{id name} me{id}"
        );
        // Different arguments or directives, or an enum against a string,
        // stay apart: validation decides about them.
        assert_eq!(
            merged(r#"{ f(x: 1) f(x: 2) g(e: A) g(e: "A") h @skip(if: $s) h }"#),
            "f f g g h h"
        );
        assert_eq!(
            merged("{ me { ... on User { id id } } me { id } }"),
            "me{...{id} id}"
        );
        // Repeated spreads run once; consecutive alike inline fragments join.
        assert_eq!(
            merged("{ ...F ...F ...F @skip(if: $s) ... on Query { a } ... on Query { b } c ... on Query { a } }"),
            "...F ...F ...{a b} c ...{a}"
        );
    }

    #[test]
    fn parsed_texts_are_remembered_and_still_held_to_each_budget() {
        let text = "{ remembered { a b c } }";
        let wide = Budget {
            max_fields: 10,
            max_tokens: 100,
        };
        let first = parse_within(text, wide).unwrap();
        assert!(PARSED.get(text).is_some());
        let again = parse_within(text, wide).unwrap();
        assert_eq!(format!("{again:?}"), format!("{first:?}"));
        let few_fields = Budget {
            max_fields: 3,
            ..wide
        };
        assert!(parse_within(text, few_fields)
            .unwrap_err()
            .message
            .contains("selects 4 fields"));
        let few_tokens = Budget {
            max_tokens: 5,
            ..wide
        };
        assert!(parse_within(text, few_tokens)
            .unwrap_err()
            .message
            .contains("more than 5 tokens"));
        // Texts that do not parse are not remembered.
        assert!(parse_within("{ broken ", wide).is_err());
        assert!(PARSED.get("{ broken ").is_none());
    }

    #[test]
    fn input_values_are_checked_for_depth_and_nul() {
        let deep = format!("{{ f(a: {}1{}) }}", "[".repeat(33), "]".repeat(33));
        let error = check_inputs(&parse(&deep), &Variables::default()).unwrap_err();
        assert!(
            error.message.contains("`a` (argument of `f`)"),
            "{}",
            error.message
        );
        let ok = format!("{{ f(a: {}1{}) }}", "[".repeat(32), "]".repeat(32));
        assert!(check_inputs(&parse(&ok), &Variables::default()).is_ok());
        let nul = parse("{ f(a: {b: [\"x\\u0000y\"]}) }");
        let error = check_inputs(&nul, &Variables::default()).unwrap_err();
        assert!(
            error.message.contains("`a.b` (argument of `f`)"),
            "{}",
            error.message
        );
        let variables = Variables::from_json(serde_json::json!({"v": {"k": ["a\u{0}"]}}));
        let error = check_inputs(&parse("{ f }"), &variables).unwrap_err();
        assert!(error.message.contains("variable `$v`"), "{}", error.message);
    }
}
