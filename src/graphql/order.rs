//! Responses in the order of the selection set.
//!
//! The GraphQL spec serializes every object with its fields in the order
//! CollectFields gives them: the order they are asked for, a field repeated
//! (or spread in again by a fragment) at its first place. async-graphql
//! resolves the fields of an object concurrently and writes each into the
//! object when it finishes, so a field that waits for the database (a
//! `totalCount`, a loader) comes after one answered from memory, whatever
//! the query's order. [`SelectionOrder`] puts every object of the answer
//! back into the order of its selection set before it is serialized.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_graphql::futures_util::stream::{BoxStream, StreamExt};
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Request, Response, Value};

/// The shape of the operation of one request, kept from parsing to
/// execution: the part of the request's extension (`hooks`) that keeps the
/// fields of every response in the order of the selection set.
#[derive(Default)]
pub(super) struct SelectionOrder {
    kept: Arc<Mutex<Kept>>,
}

#[derive(Default)]
struct Kept {
    operation_name: Option<String>,
    shape: Option<Arc<Shape>>,
}

impl Shape {
    /// The shape of the operation the request runs.
    pub(super) fn of_operation(
        document: &ExecutableDocument,
        operation_name: Option<&str>,
    ) -> Option<Shape> {
        let mut operations = document.operations.iter();
        let operation = match operation_name {
            Some(name) => operations
                .find(|(n, _)| n.is_some_and(|n| n.as_str() == name))
                .map(|(_, op)| op),
            None => operations.next().map(|(_, op)| op),
        }?;
        Some(Shape::of(document, &[&operation.node.selection_set.node]))
    }
}

fn kept(kept: &Mutex<Kept>) -> std::sync::MutexGuard<'_, Kept> {
    kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SelectionOrder {
    /// Notes the operation the request asks for (before it is prepared).
    pub(super) fn remember_operation(&self, request: &Request) {
        kept(&self.kept).operation_name = request.operation_name.clone();
    }

    /// Notes the shape of that operation in the parsed document.
    pub(super) fn remember_shape(&self, document: &ExecutableDocument) {
        let mut kept = kept(&self.kept);
        kept.shape = Shape::of_operation(document, kept.operation_name.as_deref()).map(Arc::new);
    }

    /// Puts the response's objects in the order of the selection set.
    pub(super) fn apply(&self, response: &mut Response) {
        apply(&self.kept, response);
    }

    /// The same for each response of a subscription. The stream parses the
    /// document when first polled, so the shape is read per response.
    pub(super) fn apply_to_stream<'s>(
        &self,
        stream: BoxStream<'s, Response>,
    ) -> BoxStream<'s, Response> {
        let kept = self.kept.clone();
        stream
            .map(move |mut response| {
                apply(&kept, &mut response);
                response
            })
            .boxed()
    }
}

fn apply(kept_shape: &Mutex<Kept>, response: &mut Response) {
    let shape = kept(kept_shape).shape.clone();
    if let Some(shape) = shape {
        shape.apply_to(response);
    }
}

/// The response keys of a selection set in CollectFields order, each with
/// the shape of its own sub-selections.
#[derive(Debug, Default)]
pub(super) struct Shape {
    fields: Vec<(Name, Shape)>,
    /// Nothing here can be out of order: at most one field, and below it
    /// nothing that can be (a page of titles, say). Such values are not
    /// walked.
    in_order: bool,
}

impl Shape {
    /// The shape of the merged selection sets `sets`.
    fn of(document: &ExecutableDocument, sets: &[&SelectionSet]) -> Shape {
        let mut keys: IndexMap<&Name, Vec<&SelectionSet>> = IndexMap::new();
        let mut spread = HashSet::new();
        for set in sets {
            collect(document, set, &mut keys, &mut spread);
        }
        let fields: Vec<(Name, Shape)> = keys
            .into_iter()
            .map(|(key, sets)| (key.clone(), Shape::of(document, &sets)))
            .collect();
        let in_order = fields.len() <= 1 && fields.iter().all(|(_, shape)| shape.in_order);
        Shape { fields, in_order }
    }

    /// Puts every object of the response in this shape's order.
    pub(super) fn apply_to(&self, response: &mut Response) {
        self.apply(&mut response.data);
    }

    /// Puts every object of `value` in this shape's order.
    fn apply(&self, value: &mut Value) {
        if self.in_order {
            return;
        }
        match value {
            Value::Object(map) => {
                // Most objects come back in order: check that by walking
                // both lists once, without hashing a key.
                let mut wanted = self.fields.iter();
                let ordered = map
                    .keys()
                    .all(|have| wanted.by_ref().any(|(want, _)| want == have));
                if !ordered {
                    let mut old = std::mem::take(map);
                    for (key, _) in &self.fields {
                        if let Some(value) = old.shift_remove(key) {
                            map.insert(key.clone(), value);
                        }
                    }
                    // Nothing else should be there; keep it all the same.
                    map.extend(old);
                }
                for (key, shape) in &self.fields {
                    if !shape.in_order {
                        if let Some(value) = map.get_mut(key) {
                            shape.apply(value);
                        }
                    }
                }
            }
            Value::List(items) => {
                for item in items {
                    self.apply(item);
                }
            }
            _ => {}
        }
    }
}

/// CollectFields over one selection set: fields by response key at their
/// first place, fragments inlined. A fragment with a type condition is
/// included whatever the object's type: keys of fields the object did not
/// get are absent from it and skipped.
fn collect<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    keys: &mut IndexMap<&'a Name, Vec<&'a SelectionSet>>,
    spread: &mut HashSet<&'a Name>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => keys
                .entry(&field.node.response_key().node)
                .or_default()
                .push(&field.node.selection_set.node),
            Selection::InlineFragment(fragment) => {
                collect(document, &fragment.node.selection_set.node, keys, spread)
            }
            Selection::FragmentSpread(s) => {
                let name = &s.node.fragment_name.node;
                if spread.insert(name) {
                    if let Some(fragment) = document.fragments.get(name) {
                        collect(document, &fragment.node.selection_set.node, keys, spread);
                    }
                }
            }
        }
    }
}
