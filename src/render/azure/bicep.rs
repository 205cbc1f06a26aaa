//! The Bicep files of an environment: minijinja templates (`templates/azure/`) fed with the
//! model itself, plus Bicep's escaping rules.

use super::deploy;
use crate::facts;
use crate::layout::AzureFile;
use crate::model::{Deployments, ModuleKind, Runner, Shard, Store};
use crate::render::{RenderError, header};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// What every Bicep template reads: the shard's deployment and its runners as the model has
/// them.
#[derive(Serialize)]
struct Context<'a> {
    header: String,
    env: ShardContext<'a>,
    /// Module file of each role-assignment kind, as main.bicep refers to it.
    modules: BTreeMap<&'static str, String>,
    graph: bool,
    deploy: String,
    outputs: String,
    outputs_file: String,
    graph_deploy: String,
    /// The identities module of this deployment (one per shard).
    identities_module: String,
    api_identity: &'static str,
    api_resource_group: &'static str,
    audience: &'static str,
    graph_app_id: &'static str,
}

/// A shard as the templates read it, under the environment's field names.
#[derive(Serialize)]
struct ShardContext<'a> {
    key: &'a str,
    location: &'a str,
    identity_subscription_id: &'a str,
    identity_resource_group: &'a str,
    create_resource_group: bool,
    oidc_issuer_url: &'a str,
    deployments: &'a Deployments,
    runners: &'a [&'a Runner],
    store: Option<&'a Store>,
}

/// The role-assignment module of one kind of target scope.
#[derive(Serialize)]
struct ModuleContext {
    header: String,
    kind: &'static str,
    resource_type: &'static str,
    api_version: &'static str,
    scope_id_expr: &'static str,
    api_role_assignment: &'static str,
}

/// The Bicep files of one environment.
pub struct Bicep {
    jinja: &'static minijinja::Environment<'static>,
    context: minijinja::Value,
}

impl Bicep {
    pub fn new(
        source: &str,
        shard: &Shard,
        kinds: impl Iterator<Item = ModuleKind>,
    ) -> Result<Self, RenderError> {
        let env = shard.env;
        let context = Context {
            header: header(source),
            env: ShardContext {
                key: &env.key,
                location: &env.location,
                identity_subscription_id: &env.identity_subscription_id,
                identity_resource_group: &env.identity_resource_group,
                create_resource_group: env.create_resource_group,
                oidc_issuer_url: &env.oidc_issuer_url,
                deployments: &shard.deployments,
                runners: &shard.runners,
                store: shard.store,
            },
            modules: kinds
                .map(|k| (k.module(), AzureFile::RoleModule(k).name()))
                .collect(),
            graph: shard.needs_graph(),
            deploy: deploy::stack_create(shard, &AzureFile::MainJson.name_in(shard.number)),
            outputs: deploy::stack_outputs(shard),
            outputs_file: shard.outputs_file(),
            graph_deploy: deploy::graph_create(shard, &AzureFile::GraphJson.name_in(shard.number)),
            identities_module: AzureFile::Identities.name_in(shard.number),
            api_identity: facts::API_IDENTITY,
            api_resource_group: facts::API_RESOURCE_GROUP,
            audience: facts::FIC_AUDIENCE,
            graph_app_id: facts::GRAPH_APP_ID,
        };
        Ok(Bicep {
            jinja: templates()?,
            context: minijinja::Value::from(minijinja::value::Serde(&context)),
        })
    }

    pub fn main(&self) -> Result<String, RenderError> {
        render(self.jinja, "main.bicep", &self.context)
    }

    pub fn identities(&self) -> Result<String, RenderError> {
        render(self.jinja, "identities.bicep", &self.context)
    }

    pub fn graph(&self) -> Result<String, RenderError> {
        render(self.jinja, "graph.bicep", &self.context)
    }
}

/// The role-assignment module of one kind of target scope: the same for every environment, so
/// it reads none (nor its runners).
pub fn role_module(source: &str, kind: ModuleKind) -> Result<String, RenderError> {
    let (resource_type, api_version, scope_id_expr) = match kind {
        ModuleKind::Subscription => ("", "", "subscription().id"),
        ModuleKind::ResourceGroup => ("", "", "resourceGroup().id"),
        ModuleKind::Resource(t) => (t.resource_type, t.api_version, "target.id"),
    };
    let ctx = ModuleContext {
        header: header(source),
        kind: kind.name(),
        resource_type,
        api_version,
        scope_id_expr,
        api_role_assignment: facts::API_ROLE_ASSIGNMENT,
    };
    render(
        templates()?,
        "role-assignments.bicep",
        &minijinja::Value::from(minijinja::value::Serde(&ctx)),
    )
}

fn render(
    jinja: &minijinja::Environment<'static>,
    name: &str,
    ctx: &minijinja::Value,
) -> Result<String, RenderError> {
    let out = jinja
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| RenderError::Template(format!("azure/{name}: {e:#}")))?;
    Ok(tidy(&out))
}

const TEMPLATES: &[(&str, &str)] = &[
    (
        "main.bicep",
        include_str!("../templates/azure/main.bicep.j2"),
    ),
    (
        "identities.bicep",
        include_str!("../templates/azure/identities.bicep.j2"),
    ),
    (
        "role-assignments.bicep",
        include_str!("../templates/azure/role-assignments.bicep.j2"),
    ),
    (
        "graph.bicep",
        include_str!("../templates/azure/graph.bicep.j2"),
    ),
];

/// The templates, compiled once per process.
fn templates() -> Result<&'static minijinja::Environment<'static>, RenderError> {
    static ENV: OnceLock<Result<minijinja::Environment<'static>, String>> = OnceLock::new();
    crate::render::templates(&ENV, |env| {
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| format!("{e:#}"))?;
        env.set_syntax(syntax);
        env.add_filter("bq", |s: &str| bicep_string(s));
        env.add_filter("comment", |s: &str| comment_text(s));
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| format!("{e:#}"))?;
        }
        Ok(())
    })
}

/// A Bicep string literal: single quotes, with `\`, `'`, `${` and control characters escaped
/// (Bicep docs, data-types.md "Strings": escapes `\\ \' \n \r \t \$ \u{x}`).
pub fn bicep_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{{{:X}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Text safe inside a `//` comment: no line breaks or other control characters.
pub fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// LF line ends, no trailing blanks, exactly one final newline. Interpolated values never
/// carry a raw line break (strings are escaped, comments sanitised), so this never alters one.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.replace("\r\n", "\n").lines() {
        out.push_str(line.trim_end_matches([' ', '\t']));
        out.push('\n');
    }
    let trimmed = out.trim_end_matches('\n').len();
    out.truncate(trimmed);
    out.push('\n');
    out
}
