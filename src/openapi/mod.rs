//! The OpenAPI 3.1 document of every HTTP endpoint, generated from the handlers'
//! `#[utoipa::path]` attributes and the answer types' `ToSchema` derives. Served at
//! `GET /openapi.json`, printed by `provisiond openapi`, committed as `docs/openapi.json`.
//!
//! What every route gets from the layers around the handlers rather than from the handler
//! itself (the path check, the time limit, admin authentication and roles, the request id)
//! is added here, in [`Listeners`], so each handler's attribute lists only its own answers.

pub mod schemas;

use std::sync::OnceLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response as Answer, ResponseBuilder};
use utoipa::openapi::{Object, OpenApi as Document, Schema, Type};
use utoipa::{Modify, OpenApi};

/// The security scheme of the admin API.
pub const ADMIN_SCHEME: &str = "admin_token";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "provisiond",
        description = "HRIS webhooks in, access changes out. Webhooks are authenticated by \
                       each sender's signature headers; the admin API by a bearer token \
                       (`[[server.tokens]]` or `server.admin_token`) whose role is `auditor` \
                       (reads) or `operator` (also acts). With `server.ops_listen` set, \
                       `/healthz`, `/readyz` and `/metrics` are served on that listener \
                       (and `/metrics` no longer on the main one).",
        license(name = "see the repository")
    ),
    paths(
        crate::webhook::handler::receive,
        crate::http::healthz,
        crate::http::readyz,
        crate::http::metrics,
        document_handler,
        crate::admin::employees::show_handler,
        crate::admin::audit::report_handler,
        crate::admin::audit::html_handler,
        crate::admin::audit::csv_handler,
        crate::admin::audit::pdf_handler,
        crate::admin::dead_letters::list_handler,
        crate::admin::dead_letters::show_handler,
        crate::admin::dead_letters::replay_handler,
        crate::admin::dead_letters::replay_many_handler,
        crate::admin::dead_letters::discard_handler,
        crate::admin::holds::list_handler,
        crate::admin::holds::release_handler,
        crate::admin::holds::reject_handler,
        crate::admin::jobs::show_handler,
        crate::admin::jobs::cancel_handler,
    ),
    components(schemas(
        schemas::ErrorBody,
        schemas::WebhookAccepted,
        schemas::HandshakeAnswer,
        schemas::Health,
        schemas::Readiness,
        schemas::DeadLetterReplayed,
        schemas::ReplayJobStarted,
        schemas::HoldsReleased,
        schemas::HoldsRejected,
        schemas::DeadLetterShown,
        crate::store::dead_letters::Reason,
        crate::store::dead_letters::query::Status,
    )),
    modifiers(&Listeners),
    tags(
        (name = "webhooks", description = "Signed sender webhooks in"),
        (name = "probes", description = "Health, readiness, metrics and this document"),
        (name = "admin", description = "The admin API (bearer token)"),
    )
)]
struct ApiDoc;

/// The document, as `GET /openapi.json` serves it.
pub fn document() -> Document {
    let mut document = ApiDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}

/// The document as pretty-printed JSON with a final newline: what `provisiond openapi`
/// prints and `docs/openapi.json` holds.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut text = document()
            .to_pretty_json()
            .expect("the OpenAPI document serialises");
        text.push('\n');
        text
    })
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "probes",
    responses((
        status = 200,
        description = "This document (OpenAPI 3.1)",
        content_type = "application/json",
        body = Object
    ))
)]
pub async fn document_handler() -> Response {
    ([(CONTENT_TYPE, "application/json")], json()).into_response()
}

/// What the layers around the handlers answer (see `http::router` and `admin::router`).
struct Listeners;

impl Modify for Listeners {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An admin token (`[[server.tokens]]`, or `server.admin_token` acting as the \
                 operator `admin`); the scheme name is matched in any case",
            ))
            .build();
        components.add_security_scheme(ADMIN_SCHEME, SecurityScheme::Http(bearer));
        for (name, schema) in components.schemas.iter_mut() {
            if !REQUESTS.contains(&name.as_str()) {
                every_field_present(name, schema);
            }
        }
        for (path, item) in document.paths.paths.iter_mut() {
            let admin = path.starts_with("/admin/");
            if let Some(operation) = item.get.as_mut() {
                layers(operation, path, admin, false);
            }
            if let Some(operation) = item.post.as_mut() {
                layers(operation, path, admin, admin);
            }
        }
    }
}

/// Request bodies: their fields are optional (the handlers say which combinations work).
const REQUESTS: [&str; 3] = [
    "DeadLetterReplayRequest",
    "DeadLetterDiscardRequest",
    "HoldDecisionRequest",
];

/// Answer fields that really are left out at times (`(schema, field)`).
const SOMETIMES_ABSENT: [(&str, &str); 2] = [
    ("ReadinessChecks", "worker"),
    ("DeadLetterShown", "body_withheld"),
];

/// serde writes `None` as `null` (no answer type skips a field), so every field of an
/// answer is present: required, `null` where its type allows it.
fn every_field_present(name: &str, schema: &mut RefOr<Schema>) {
    match schema {
        RefOr::T(Schema::Object(object)) => {
            for field in object.properties.keys() {
                let absent = SOMETIMES_ABSENT.contains(&(name, field.as_str()));
                if !absent && !object.required.contains(field) {
                    object.required.push(field.clone());
                }
            }
        }
        RefOr::T(Schema::AllOf(all)) => {
            for part in all.items.iter_mut() {
                every_field_present(name, part);
            }
        }
        _ => {}
    }
}

fn layers(operation: &mut Operation, path: &str, admin: bool, acts: bool) {
    let queries_database = admin || path.starts_with("/webhooks/");
    add(
        operation,
        400,
        "The path or query has control characters once decoded, or is not UTF-8",
    );
    add(
        operation,
        503,
        "The request took longer than `server.request_timeout`; retry after `Retry-After` seconds",
    );
    if admin {
        operation.security = Some(vec![SecurityRequirement::new(
            ADMIN_SCHEME,
            Vec::<String>::new(),
        )]);
        add(
            operation,
            401,
            "No valid `Authorization: Bearer <token>` header, or no admin token is configured",
        );
    }
    if acts {
        add(operation, 403, "The token's role (`auditor`) may only read");
    }
    if admin && operation.request_body.is_some() {
        add(
            operation,
            413,
            "`payload_too_large`: the body is over 2 MiB (`http::body::ADMIN_BODY_LIMIT`)",
        );
    }
    if queries_database {
        add(
            operation,
            500,
            "An internal error (a database failure): logged with the request id, never detailed",
        );
    }
    for (status, answer) in operation.responses.responses.iter_mut() {
        if let RefOr::T(answer) = answer {
            request_id_header(answer);
            if admin {
                private_headers(answer);
            }
            // Every `ApiError::Unavailable` says when to retry; `/readyz`'s own 503 does not.
            if status == "503" && path != "/readyz" {
                retry_after_header(answer);
            }
        }
    }
}

/// Add `status` with the error body unless the handler already describes it.
fn add(operation: &mut Operation, status: u16, description: &str) {
    let status = status.to_string();
    if operation.responses.responses.contains_key(&status) {
        return;
    }
    let error = Ref::from_schema_name("ErrorBody");
    let answer = ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(error)).build(),
        )
        .build();
    operation
        .responses
        .responses
        .insert(status, RefOr::T(answer));
}

fn request_id_header(answer: &mut Answer) {
    let header = HeaderBuilder::new()
        .schema(Object::with_type(Type::String))
        .description(Some(
            "The caller's `x-request-id` when it is 1 to 64 visible ASCII characters, else \
             one of provisiond's; internal errors are logged with it",
        ))
        .build();
    answer.headers.insert("x-request-id".to_owned(), header);
}

/// What `admin::private_answers` sets on every admin answer, errors included.
fn private_headers(answer: &mut Answer) {
    let fixed = |value: &str, description: &str| {
        let mut schema = Object::with_type(Type::String);
        schema.enum_values = Some(vec![value.into()]);
        HeaderBuilder::new()
            .schema(schema)
            .description(Some(description))
            .build()
    };
    let never_cached = fixed("no-store", "Admin answers hold personal data: never cached");
    let not_sniffed = fixed("nosniff", "Never content-sniffed");
    answer
        .headers
        .insert("cache-control".to_owned(), never_cached);
    answer
        .headers
        .insert("x-content-type-options".to_owned(), not_sniffed);
}

fn retry_after_header(answer: &mut Answer) {
    let header = HeaderBuilder::new()
        .schema(Object::with_type(Type::Integer))
        .description(Some(
            "Seconds to wait before retrying (`rabbitmq.retry_after_secs`)",
        ))
        .build();
    answer.headers.insert("retry-after".to_owned(), header);
}
