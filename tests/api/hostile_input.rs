//! Hostile input: documents that cost far more than they look (repeated
//! fields, fragments spread over and over, huge texts), input values nested
//! too deep, and U+0000 in text — over HTTP and WebSocket, with a generated
//! property test of the limits.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::support::ws::Ws;

/// Posts a document as `application/graphql-response+json`; status and body.
async fn post(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
    let mut request = app
        .client
        .post(&app.url)
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// The SQL statements a request costs, with its answer.
async fn counted(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> (u64, u16, Value) {
    let metrics = &app.server.state.services.metrics;
    let before = metrics.sql_statements();
    let (status, body) = post(app, token, query, variables).await;
    (metrics.sql_statements() - before, status, body)
}

fn first_error(body: &Value) -> (String, String) {
    (
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// Statements counted while a request runs that it did not cause: the
/// import workers poll the database in the background.
const NOISE: u64 = 3;

/// The statements of the cheapest signed-in request, with room for
/// background noise: what a refused request may cost at most.
async fn baseline(app: &TestApp, token: Option<&str>) -> u64 {
    let (statements, _, body) = counted(app, token, "{ __typename }", json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    statements + NOISE
}

// ---- 13: repeated fields, fragments, huge documents -------------------------

#[tokio::test]
async fn a_field_repeated_without_aliases_runs_once() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let once = counted(&app, Some(&alice.token), "{ me { id } }", json!({})).await;
    let query = format!("{{ {} me {{ email }} }}", "me { id } ".repeat(900));
    let (statements, status, body) = counted(&app, Some(&alice.token), &query, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({ "me": { "id": alice.id, "email": "alice@example.com" } }),
        "the merged selections answer as one field"
    );
    assert!(
        statements <= once.0 + NOISE,
        "900 repetitions of `me` cost {statements} statements; one costs {}",
        once.0
    );
}

#[tokio::test]
async fn fragments_spread_over_and_over_are_refused_before_anything_runs() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let base = baseline(&app, Some(&alice.token)).await;
    // 2^12 copies of `me { id }` through twelve fragments that each spread
    // the next one twice: a few hundred bytes.
    let mut query = String::from("{ ...F0 }\n");
    for i in 0..12 {
        query.push_str(&format!(
            "fragment F{i} on Query {{ ...F{n} ...F{n} }}\n",
            n = i + 1
        ));
    }
    query.push_str("fragment F12 on Query { me { id } }");
    let (statements, status, body) = counted(&app, Some(&alice.token), &query, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.get("data").is_none(), "{body}");
    let (message, code) = first_error(&body);
    assert_eq!(code, "BAD_USER_INPUT");
    assert!(message.contains("8192 fields"), "{message}");
    assert!(statements <= base, "{statements} statements for a refusal");
}

#[tokio::test]
async fn a_document_of_a_hundred_and_twenty_thousand_fields_is_refused_at_once() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let base = baseline(&app, Some(&alice.token)).await;
    // The attack as reported: 840 KB, under the body limit.
    let query = format!("{{ {}}}", "me{id} ".repeat(120_000));
    let started = Instant::now();
    let (statements, status, body) = counted(&app, Some(&alice.token), &query, json!({})).await;
    let took = started.elapsed();
    assert_eq!(status, 400, "{body}");
    let (message, code) = first_error(&body);
    assert_eq!(code, "BAD_USER_INPUT");
    assert!(message.contains("tokens"), "{message}");
    assert!(statements <= base, "{statements} statements for a refusal");
    assert!(took < Duration::from_secs(3), "refused after {took:?}");
    // Nor without a token.
    let (status, body) = post(&app, None, &query, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(first_error(&body).1, "BAD_USER_INPUT");
}

#[tokio::test]
async fn brackets_nested_thousands_deep_never_reach_the_parser() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let query = format!(
        "{{ datasets(search: {}\"a\"{}) {{ totalCount }} }}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let (status, body) = post(&app, Some(&alice.token), &query, json!({})).await;
    assert_eq!(status, 400, "{body}");
    let (message, code) = first_error(&body);
    assert_eq!(code, "BAD_USER_INPUT");
    assert!(message.contains("nests brackets"), "{message}");
}

#[tokio::test]
async fn requests_without_a_token_have_a_smaller_budget_that_still_allows_introspection() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    // 600 fields: within a signed-in budget, over an anonymous one.
    let query = format!("{{ {} }}", "__typename ".repeat(600));
    let (status, body) = post(&app, Some(&alice.token), &query, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!({ "__typename": "Query" }));
    let (status, body) = post(&app, None, &query, json!({})).await;
    assert_eq!(status, 400, "{body}");
    let (message, code) = first_error(&body);
    assert_eq!(code, "BAD_USER_INPUT");
    assert!(message.contains("at most 500"), "{message}");
    // GraphiQL's own introspection query fits the anonymous budget.
    let (status, body) = post(&app, None, INTROSPECTION, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["__schema"]["types"].as_array().unwrap().len() > 10);
}

#[tokio::test]
async fn the_limits_hold_over_websocket_too() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let mut ws = Ws::signed_in(&app, Some(&alice)).await;
    let repeated = format!("{{ {}}}", "me { id } ".repeat(300));
    let nul = "{ datasets(search: \"a\\u0000b\") { totalCount } }";
    for (id, query) in [
        ("big", format!("{{ {}}}", "me{id} ".repeat(5000))),
        ("nul", nul.to_owned()),
    ] {
        ws.subscribe(id, &query, json!({})).await;
        let answer = ws.recv().await;
        assert_eq!(answer["type"], "error", "{answer}");
        assert_eq!(answer["id"], id);
        assert_eq!(
            answer["payload"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{answer}"
        );
    }
    // Repetitions within the budget run once.
    let metrics = &app.server.state.services.metrics;
    let before = metrics.sql_statements();
    ws.subscribe("rep", &repeated, json!({})).await;
    let answer = ws.recv().await;
    assert_eq!(answer["type"], "next", "{answer}");
    assert_eq!(answer["payload"]["data"]["me"]["id"], alice.id.as_str());
    assert!(metrics.sql_statements() - before <= 5);
}

/// What GraphiQL sends to draw its documentation pane.
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue }
    type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}
"#;

// ---- 14: JSON inputs, transactions, unreadable rows --------------------------

/// A JSON literal `levels` arrays deep.
fn deep_literal(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
}

#[tokio::test]
async fn a_structure_nested_too_deep_is_refused_and_the_ontology_stays_readable() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = app.ontology(&alice, "Birds").await;
    let update = |levels: usize| {
        format!(
            "mutation($id: ID!) {{ updateOntology(input: {{id: $id, structure: {{objects: \
             [{{name: \"A\", shape: \"point\", extra: {}}}]}}}}) {{ id }} }}",
            deep_literal(levels)
        )
    };
    // As reported: 200 levels.
    let (status, body) = post(&app, Some(&alice.token), &update(200), json!({ "id": id })).await;
    assert_eq!(first_error(&body).1, "BAD_USER_INPUT", "{status} {body}");
    let (status, body) = post(&app, Some(&alice.token), &update(40), json!({ "id": id })).await;
    let (message, code) = first_error(&body);
    assert_eq!(code, "BAD_USER_INPUT", "{status} {body}");
    assert!(
        message.contains("input.structure.objects.extra"),
        "{message}"
    );
    // The same through a variable (which serde_json would let through up
    // to 128 levels).
    let mut deep = json!(1);
    for _ in 0..100 {
        deep = json!([deep]);
    }
    let structure = json!({ "objects": [{ "name": "A", "shape": "point", "extra": deep }] });
    let code = app
        .code(
            &alice,
            "mutation($id: ID!, $s: JSON) { updateOntology(input: {id: $id, structure: $s}) { id } }",
            json!({ "id": id, "s": structure }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    // Nothing was kept: everything still answers.
    let data = app
        .ok(
            &alice,
            "{ ontologies { nodes { title structure } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["ontologies"]["nodes"][0]["structure"]["objects"][0]["name"],
        "Chicken"
    );
    // Client metadata and integration settings are held to the same rule.
    let folder = app.folder(&alice, "Pictures").await;
    let register = format!(
        "mutation($f: ID!) {{ registerFiles(input: {{folderId: $f, files: [{{objectUrl: \
         \"https://example.com/a.jpg\", kind: IMAGE, clientMetadata: {{a: {}}}}}]}}) {{ id }} }}",
        deep_literal(40)
    );
    let (_, body) = post(&app, Some(&alice.token), &register, json!({ "f": folder })).await;
    let (message, code) = first_error(&body);
    assert_eq!(code, "BAD_USER_INPUT", "{body}");
    assert!(message.contains("clientMetadata"), "{message}");
}

#[tokio::test]
async fn an_unreadable_stored_structure_fails_that_field_alone() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let poisoned = app.ontology(&alice, "Poisoned").await;
    let healthy = app.ontology(&alice, "Healthy").await;
    let dataset = app.dataset(&alice, "Pictures", None).await;
    app.project(&alice, "Labelling", &poisoned, &[&dataset])
        .await;
    // A structure deeper than any JSON reader decodes, planted as a row
    // written before inputs were checked would be.
    let db = Database::connect(&app.database_url).await.unwrap();
    let cast = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "::jsonb",
        _ => "",
    };
    let deep = format!("{{\"objects\": {}}}", deep_literal(200));
    db.execute_unprepared(&format!(
        "UPDATE ontologies SET structure = '{deep}'{cast} WHERE title = 'Poisoned'"
    ))
    .await
    .unwrap();
    db.close().await.ok();

    let (_, body) = post(
        &app,
        Some(&alice.token),
        "{ ontologies { totalCount nodes { id title structure } } }",
        json!({}),
    )
    .await;
    let nodes = body["data"]["ontologies"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(nodes.len(), 2, "{body}");
    let bad = nodes.iter().find(|n| n["id"] == poisoned.as_str()).unwrap();
    let good = nodes.iter().find(|n| n["id"] == healthy.as_str()).unwrap();
    assert_eq!(bad["title"], "Poisoned");
    assert!(bad["structure"].is_null(), "{body}");
    assert_eq!(good["structure"]["objects"][0]["name"], "Chicken");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(
        errors[0]["path"].as_array().unwrap().last().unwrap(),
        "structure"
    );
    assert_eq!(errors[0]["extensions"]["code"], "INTERNAL");

    let data = app
        .ok(
            &alice,
            "{ projects { nodes { title ontology { title } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["projects"]["nodes"][0]["ontology"]["title"],
        "Poisoned"
    );
    // The owner repairs it, and can delete it once no project uses it.
    let data = app
        .ok(
            &alice,
            "mutation($id: ID!) { updateOntology(input: {id: $id, structure: {objects: \
             [{name: \"Owl\", shape: \"point\"}]}}) { structure } }",
            json!({ "id": poisoned }),
        )
        .await;
    assert_eq!(
        data["updateOntology"]["structure"]["objects"][0]["name"],
        "Owl"
    );
    app.ok(
        &alice,
        "mutation($id: ID!) { deleteOntology(input: {id: $id}) }",
        json!({ "id": healthy }),
    )
    .await;
}

// ---- 15: U+0000 ---------------------------------------------------------------

#[tokio::test]
async fn text_with_a_nul_character_is_refused_wherever_it_comes() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    app.dataset(&alice, "alpha", None).await;
    app.dataset(&alice, "gamma", None).await;
    let search = "query($s: String) { datasets(search: $s) { totalCount } }";
    let (_, body) = post(
        &app,
        Some(&alice.token),
        search,
        json!({ "s": "a\u{0}zzz" }),
    )
    .await;
    let (message, code) = first_error(&body);
    assert_eq!(code, "BAD_USER_INPUT", "{body}");
    assert!(
        message.contains("variable `$s`") && message.contains("U+0000"),
        "{message}"
    );
    let (_, body) = post(
        &app,
        Some(&alice.token),
        "{ datasets(search: \"a\\u0000zzz\") { totalCount } }",
        json!({}),
    )
    .await;
    assert_eq!(first_error(&body).1, "BAD_USER_INPUT", "{body}");
    // Titles, input objects, lists and JSON values alike.
    for (query, variables) in [
        (
            "mutation($t: String!) { createDataset(input: {title: $t}) { id } }",
            json!({ "t": "nul\u{0}" }),
        ),
        (
            "mutation { createDataset(input: {title: \"nul\\u0000\"}) { id } }",
            json!({}),
        ),
        (
            "mutation($s: JSON!) { createOntology(input: {title: \"O\", structure: $s}) { id } }",
            json!({ "s": { "classifications": [{ "name": "Q", "type": "radio", "options": ["a\u{0}"] }] } }),
        ),
        (
            "mutation($s: JSON!) { createOntology(input: {title: \"O\", structure: $s}) { id } }",
            json!({ "s": { "objects\u{0}": [] } }),
        ),
    ] {
        let (_, body) = post(&app, Some(&alice.token), query, variables).await;
        assert_eq!(first_error(&body).1, "BAD_USER_INPUT", "{query}: {body}");
    }
    let data = app
        .ok(
            &alice,
            "{ datasets { totalCount } ontologies { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data,
        json!({ "datasets": { "totalCount": 2 }, "ontologies": { "totalCount": 0 } })
    );
    // An ordinary search still finds what it should.
    let data = app.ok(&alice, search, json!({ "s": "alp" })).await;
    assert_eq!(data["datasets"]["totalCount"], 1);
}

// ---- Keeping them closed: generated documents ---------------------------------

/// One top-level selection of a generated document, with its field count.
#[derive(Debug, Clone)]
enum Item {
    /// `me { … }`, optionally under an alias.
    Me(Option<&'static str>, Vec<&'static str>),
    /// `datasets(first: n) { totalCount }`.
    Datasets(u8),
    /// `... on Query { me { id } }`.
    Inline,
    /// `...F<n>`.
    Spread(usize),
}

impl Item {
    fn text(&self) -> String {
        match self {
            Item::Me(alias, fields) => format!(
                "{}me {{ {} }}",
                alias.map(|a| format!("{a}: ")).unwrap_or_default(),
                fields.join(" ")
            ),
            Item::Datasets(n) => format!("datasets(first: {n}) {{ totalCount }}"),
            Item::Inline => "... on Query { me { id } }".to_owned(),
            Item::Spread(n) => format!("...F{n}"),
        }
    }

    fn fields(&self, fragments: &[usize]) -> usize {
        match self {
            Item::Me(_, fields) => 1 + fields.len(),
            Item::Datasets(_) => 2,
            Item::Inline => 2,
            Item::Spread(n) => fragments[*n],
        }
    }
}

fn item(fragments: usize) -> impl Strategy<Value = Item> {
    let me = (
        prop::option::of(prop::sample::select(vec!["a", "b", "me"])),
        prop::sample::subsequence(vec!["id", "email", "name", "__typename"], 1..=4),
    )
        .prop_map(|(alias, fields)| Item::Me(alias, fields));
    let spread = if fragments == 0 {
        Just(Item::Inline).boxed()
    } else {
        (0..fragments).prop_map(Item::Spread).boxed()
    };
    prop_oneof![
        4 => me,
        1 => (1u8..4).prop_map(Item::Datasets),
        1 => Just(Item::Inline),
        2 => spread,
    ]
}

/// A document: fragments (each may spread the later ones) and a query,
/// every selection repeated up to 400 times.
#[derive(Debug, Clone)]
struct Document {
    text: String,
    /// Field selections, fragments expanded.
    fields: usize,
    /// Distinct selections: what may cost statements once merged.
    distinct: usize,
}

fn selections(fragments: usize) -> impl Strategy<Value = Vec<(Item, usize)>> {
    prop::collection::vec((item(fragments), 1usize..400), 1..5)
}

fn document() -> impl Strategy<Value = Document> {
    (selections(0), selections(1), selections(2)).prop_map(|(f1, f0, query)| {
        // F1 spreads nothing, F0 may spread F1, the query either.
        let mut counts = vec![0usize; 2];
        let mut bodies = Vec::new();
        for (name, items) in [(1usize, &f1), (0, &f0), (2, &query)] {
            let mut fields = 0usize;
            let mut parts = Vec::new();
            for (item, times) in items {
                let item = match item {
                    Item::Spread(_) if name == 1 => Item::Inline,
                    Item::Spread(_) if name == 0 => Item::Spread(1),
                    other => other.clone(),
                };
                fields = fields.saturating_add(item.fields(&counts).saturating_mul(*times));
                parts.push(vec![item.text(); *times].join(" "));
            }
            bodies.push(parts.join(" "));
            if name < 2 {
                counts[name] = fields;
            } else {
                let text = format!(
                    "{{ {} }}\nfragment F0 on Query {{ {} }}\nfragment F1 on Query {{ {} }}",
                    bodies[2], bodies[1], bodies[0]
                );
                // F1's selections may run twice: through F0 and on their own.
                let distinct = query.len() + f0.len() + 2 * f1.len();
                return Document {
                    text,
                    fields,
                    distinct,
                };
            }
        }
        unreachable!("the query comes last")
    })
}

#[test]
fn generated_documents_cost_no_more_than_the_limits_allow() {
    const MAX_FIELDS: usize = 1500;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (app, alice) = runtime.block_on(async {
        let app = spawn_app_with(|c| c.query.max_fields = MAX_FIELDS).await;
        let alice = app.user("alice@example.com").await;
        app.dataset(&alice, "Pictures", None).await;
        (app, alice)
    });
    let base = runtime.block_on(baseline(&app, Some(&alice.token)));
    let config = ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(doc in document())| {
        let (statements, status, body) = runtime.block_on(counted(&app, Some(&alice.token), &doc.text, json!({})));
        if doc.fields > MAX_FIELDS {
            prop_assert_eq!(status, 400, "{}", body);
            prop_assert_eq!(&body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
            prop_assert!(statements <= base, "a refusal cost {} statements", statements);
        } else if body.get("errors").is_none() {
            // Each distinct selection costs at most a few statements, however
            // often it is repeated.
            prop_assert!(
                statements <= base + 4 * doc.distinct as u64,
                "{} statements for {} distinct selections ({} fields)",
                statements, doc.distinct, doc.fields
            );
        } else {
            // Only validation may refuse what is within the limits (an unused
            // fragment, fields that differ under one name), before running.
            prop_assert_eq!(status, 400, "{}", body);
            prop_assert!(statements <= base);
        }
    });
}
