//! Query limits beyond depth and complexity (which the schema enforces):
//! how many aliases, tokens and fields a document may use (a stricter
//! budget without a token), what its input values may hold, and how long an
//! operation may run. Repeated fields are merged here before validation and
//! execution (see `document.rs`).

use std::sync::Arc;
use std::time::Duration;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Response, ServerError, ServerResult, Variables};

use super::document::{self, Budget};
use crate::auth::Principal;

/// Refuses documents with more than `max_aliases` aliased fields, over the
/// caller's budget of tokens and fields, or with input values too deep or
/// holding U+0000; merges repeated fields; stops operations that run longer
/// than `timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_aliases: usize,
    pub timeout: Duration,
    /// When false, `__schema` and `__type` are refused with a clear error.
    pub introspection: bool,
    /// The budget of a signed-in caller.
    pub budget: Budget,
    /// The budget of a request without a token.
    pub anonymous: Budget,
}

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

fn aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

fn introspects(set: &SelectionSet) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => {
            matches!(field.node.name.node.as_str(), "__schema" | "__type")
                || introspects(&field.node.selection_set.node)
        }
        Selection::InlineFragment(fragment) => introspects(&fragment.node.selection_set.node),
        Selection::FragmentSpread(_) => false,
    })
}

/// Does any operation or fragment of the document introspect the schema?
pub fn uses_introspection(document: &ExecutableDocument) -> bool {
    document
        .operations
        .iter()
        .any(|(_, op)| introspects(&op.node.selection_set.node))
        || document
            .fragments
            .values()
            .any(|f| introspects(&f.node.selection_set.node))
}

/// Aliased fields in every operation and fragment of a document.
pub fn count_aliases(document: &ExecutableDocument) -> usize {
    let operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| aliases(&op.node.selection_set.node))
        .sum();
    let fragments: usize = document
        .fragments
        .values()
        .map(|f| aliases(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

#[async_graphql::async_trait::async_trait]
impl Extension for Limits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let budget = match ctx.data_opt::<Principal>() {
            Some(Principal::User(_)) => self.budget,
            _ => self.anonymous,
        };
        // The transports parse within the signed-in budget; this holds the
        // text to the caller's own before the parser runs when they did not.
        document::check_text(query, budget.max_tokens)?;
        let mut document = next.run(ctx, query, variables).await?;
        if !self.introspection && uses_introspection(&document) {
            return Err(document::refusal(
                "introspection is disabled on this server".to_owned(),
            ));
        }
        let used = count_aliases(&document);
        if used > self.max_aliases {
            return Err(document::refusal(format!(
                "the document uses {used} aliases; at most {} are allowed",
                self.max_aliases
            )));
        }
        document::check_fields(&document, budget.max_fields)?;
        document::check_inputs(&document, variables)?;
        document::merge_repeated_fields(&mut document);
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        match tokio::time::timeout(self.timeout, next.run(ctx, operation_name)).await {
            Ok(response) => response,
            Err(_) => {
                let mut error = ServerError::new(
                    format!("the operation ran longer than {:?} and was stopped; nothing of it was kept", self.timeout),
                    None,
                );
                let mut extensions = async_graphql::ErrorExtensionValues::default();
                extensions.set("code", "TIMEOUT");
                error.extensions = Some(extensions);
                Response::from_errors(vec![error])
            }
        }
    }
}
