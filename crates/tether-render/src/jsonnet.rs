//! Jsonnet, evaluated in-process with jrsonnet.
//!
//! jrsonnet's file resolver reads whatever path an `import` names, including
//! `/var/run/secrets/...`, and a manifest could carry that into the cluster.
//! Jsonnet imports are string literals, never computed, so every import can be
//! found by parsing: before evaluating, each file's imports are resolved exactly
//! as jrsonnet resolves them (beside the importing file, then each lib) and
//! anything that lands outside the checkout is refused.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use jrsonnet_evaluator::trace::{CompactFormat, PathResolver};
use jrsonnet_evaluator::{EvaluationState, FileImportResolver, ManifestFormat};
use jrsonnet_parser::{
    ArgsDesc, BindSpec, CompSpec, Expr, FieldName, LocExpr, Member, ObjBody, ParamsDesc,
    ParserSettings,
};
use serde_json::Value;
use tether_model::JsonnetOptions;

use crate::paths;
use crate::{Ctx, RenderError};

/// go-jsonnet's default; jrsonnet's own (200) is low for real libraries.
const MAX_STACK: usize = 500;
const MESSAGE_SHOWN: usize = 4096;

pub(crate) struct Setup {
    opts: JsonnetOptions,
    libs: Vec<PathBuf>,
}

/// Libs are relative to the repository root and must stay inside it.
pub(crate) fn setup(
    root_canon: &Path,
    opts: Option<&JsonnetOptions>,
) -> Result<Setup, RenderError> {
    let opts = opts.cloned().unwrap_or_default();
    let mut libs = Vec::with_capacity(opts.libs.len());
    for lib in &opts.libs {
        let rel = paths::normalize_rel(lib)?;
        let dir = paths::resolve_inside(root_canon, &rel)?;
        libs.push(dir);
    }
    Ok(Setup { opts, libs })
}

/// Evaluate one file; `rel` is its repository-relative name for messages.
pub(crate) fn evaluate(
    ctx: &Ctx,
    setup: &Setup,
    file: &Path,
    rel: &str,
) -> Result<Value, RenderError> {
    let mut checker = ImportChecker {
        root: &ctx.root_canon,
        libs: &setup.libs,
        max_file_size: ctx.max_file_size,
        seen: HashSet::new(),
    };
    checker.check_file(file, rel)?;

    let state = EvaluationState::default();
    state.with_stdlib();
    state.set_import_resolver(Box::new(FileImportResolver {
        library_paths: setup.libs.clone(),
    }));
    state.set_trace_format(Box::new(CompactFormat {
        resolver: PathResolver::Relative(ctx.root_canon.clone()),
        padding: 4,
    }));
    state.set_max_stack(MAX_STACK);
    state.set_manifest_format(ManifestFormat::Json(0));
    let fail = |message: String| RenderError::Jsonnet {
        file: rel.to_string(),
        message: head(message.trim(), MESSAGE_SHOWN),
    };

    for var in &setup.opts.ext_vars {
        if var.code {
            let label = format!("extVar {}", var.name);
            checker.check_snippet(&var.value, &label)?;
            state
                .add_ext_code(var.name.as_str().into(), var.value.as_str().into())
                .map_err(|e| fail(format!("in {label}: {}", state.stringify_err(&e))))?;
        } else {
            state.add_ext_str(var.name.as_str().into(), var.value.as_str().into());
        }
    }
    for var in &setup.opts.tlas {
        if var.code {
            let label = format!("TLA {}", var.name);
            checker.check_snippet(&var.value, &label)?;
            state
                .add_tla_code(var.name.as_str().into(), var.value.as_str().into())
                .map_err(|e| fail(format!("in {label}: {}", state.stringify_err(&e))))?;
        } else {
            state.add_tla_str(var.name.as_str().into(), var.value.as_str().into());
        }
    }

    let val = state
        .evaluate_file_raw(file)
        .and_then(|v| state.with_tla(v))
        .map_err(|e| fail(state.stringify_err(&e)))?;
    let json = state
        .manifest(val)
        .map_err(|e| fail(state.stringify_err(&e)))?;
    if json.len() as u64 > ctx.max_output_size {
        return Err(RenderError::FileTooLarge {
            file: format!("output of {rel}"),
            size: json.len() as u64,
            limit: ctx.max_output_size,
        });
    }
    serde_json::from_str(&json).map_err(|e| fail(format!("output is not JSON: {e}")))
}

/// The first `max` bytes: jsonnet puts the error first and the stack trace
/// (innermost frame first) after it, so the start is what matters.
fn head(s: &str, max: usize) -> String {
    let s = &collapse_repeats(s);
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let cut = s[..end].rfind('\n').unwrap_or(end);
    let rest = s[cut..].lines().count();
    format!("{}\n… ({rest} more lines)", &s[..cut])
}

/// A deep recursion prints the same frame hundreds of times; say it once.
fn collapse_repeats(s: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut lines = s.lines().peekable();
    while let Some(line) = lines.next() {
        let mut n = 1;
        while lines.peek() == Some(&line) {
            lines.next();
            n += 1;
        }
        out.push(line.to_string());
        if n > 2 {
            out.push(format!("    … the frame above {} more times", n - 1));
        } else if n == 2 {
            out.push(line.to_string());
        }
    }
    out.join("\n")
}

struct ImportChecker<'a> {
    root: &'a Path,
    libs: &'a [PathBuf],
    max_file_size: u64,
    seen: HashSet<PathBuf>,
}

enum Import {
    Code(PathBuf),
    Str(PathBuf),
}

impl ImportChecker<'_> {
    /// `path` is spelled as jrsonnet will spell it (not canonicalised), so
    /// imports relative to it resolve the same way here as there.
    fn check_file(&mut self, path: &Path, shown: &str) -> Result<(), RenderError> {
        let canon = self.inside(path, shown, None)?;
        if !self.seen.insert(canon) {
            return Ok(());
        }
        let Ok(src) = std::fs::read_to_string(path) else {
            // Unreadable or not UTF-8: jrsonnet reports it in its own words.
            return Ok(());
        };
        let mut dir = path.to_path_buf();
        dir.pop();
        self.check_source(&src, path, &dir, shown)
    }

    fn check_snippet(&mut self, code: &str, label: &str) -> Result<(), RenderError> {
        // jrsonnet names snippets like this and resolves their imports from the
        // snippet name's parent, which is empty: the process working directory.
        let name = PathBuf::from(format!("snippet {label}"));
        self.check_source(code, &name, Path::new(""), label)
    }

    fn check_source(
        &mut self,
        src: &str,
        name: &Path,
        dir: &Path,
        shown: &str,
    ) -> Result<(), RenderError> {
        let settings = ParserSettings {
            loc_data: true,
            file_name: Rc::from(name),
        };
        let Ok(expr) = jrsonnet_parser::parse(src, &settings) else {
            // A syntax error stops evaluation before any import is read.
            return Ok(());
        };
        let mut imports = Vec::new();
        collect(&expr, &mut imports);
        for import in imports {
            let (target, code) = match &import {
                Import::Code(p) => (p, true),
                Import::Str(p) => (p, false),
            };
            let Some(resolved) = self.resolve(dir, target) else {
                // Not found: jrsonnet reports it with the import's location.
                continue;
            };
            let what = format!("import {:?} in {shown}", target.display().to_string());
            if code {
                let canon = self.inside(&resolved, shown, Some(&what))?;
                let rel = canon
                    .strip_prefix(self.root)
                    .map(|r| r.display().to_string())
                    .unwrap_or_default();
                self.check_file(&resolved, &rel)?;
            } else {
                self.inside(&resolved, shown, Some(&what))?;
            }
        }
        Ok(())
    }

    /// jrsonnet's FileImportResolver order: beside the importer, then each lib.
    fn resolve(&self, dir: &Path, target: &Path) -> Option<PathBuf> {
        let direct = dir.join(target);
        if direct.exists() {
            return Some(direct);
        }
        self.libs
            .iter()
            .map(|lib| lib.join(target))
            .find(|p| p.exists())
    }

    /// Canonical path of `p`, refusing anything outside the checkout or too big.
    fn inside(&self, p: &Path, shown: &str, what: Option<&str>) -> Result<PathBuf, RenderError> {
        let canon = p.canonicalize().map_err(|e| RenderError::io(shown, e))?;
        if !canon.starts_with(self.root) {
            return Err(RenderError::PathEscapes {
                path: shown.to_string(),
                detail: format!(
                    "{} resolves to {}, outside the repository",
                    what.unwrap_or("it"),
                    canon.display()
                ),
            });
        }
        let size = std::fs::metadata(&canon).map(|m| m.len()).unwrap_or(0);
        if size > self.max_file_size {
            let rel = canon
                .strip_prefix(self.root)
                .map(|r| r.display().to_string())
                .unwrap_or_else(|_| shown.to_string());
            return Err(RenderError::FileTooLarge {
                file: rel,
                size,
                limit: self.max_file_size,
            });
        }
        Ok(canon)
    }
}

/// Every `import` / `importstr` in an expression.
fn collect(e: &LocExpr, out: &mut Vec<Import>) {
    match &*e.0 {
        Expr::Import(p) => out.push(Import::Code(p.clone())),
        Expr::ImportStr(p) => out.push(Import::Str(p.clone())),
        Expr::Literal(_) | Expr::Str(_) | Expr::Num(_) | Expr::Var(_) | Expr::Intrinsic(_) => {}
        Expr::Arr(items) => items.iter().for_each(|i| collect(i, out)),
        Expr::ArrComp(body, specs) => {
            collect(body, out);
            comp_specs(specs, out);
        }
        Expr::Obj(body) => obj_body(body, out),
        Expr::ObjExtend(base, body) => {
            collect(base, out);
            obj_body(body, out);
        }
        Expr::Parened(x) | Expr::UnaryOp(_, x) | Expr::ErrorStmt(x) => collect(x, out),
        Expr::BinaryOp(a, _, b) | Expr::Index(a, b) => {
            collect(a, out);
            collect(b, out);
        }
        Expr::AssertExpr(stmt, rest) => {
            collect(&stmt.0, out);
            if let Some(m) = &stmt.1 {
                collect(m, out);
            }
            collect(rest, out);
        }
        Expr::LocalExpr(binds, rest) => {
            bind_specs(binds, out);
            collect(rest, out);
        }
        Expr::Apply(f, args, _) => {
            collect(f, out);
            args_desc(args, out);
        }
        Expr::Function(params, body) => {
            params_desc(params, out);
            collect(body, out);
        }
        Expr::IfElse {
            cond,
            cond_then,
            cond_else,
        } => {
            collect(&cond.0, out);
            collect(cond_then, out);
            if let Some(e) = cond_else {
                collect(e, out);
            }
        }
        Expr::Slice(x, desc) => {
            collect(x, out);
            for part in [&desc.start, &desc.end, &desc.step].into_iter().flatten() {
                collect(part, out);
            }
        }
    }
}

fn obj_body(body: &ObjBody, out: &mut Vec<Import>) {
    match body {
        ObjBody::MemberList(members) => {
            for m in members {
                match m {
                    Member::Field(f) => {
                        if let FieldName::Dyn(e) = &f.name {
                            collect(e, out);
                        }
                        if let Some(p) = &f.params {
                            params_desc(p, out);
                        }
                        collect(&f.value, out);
                    }
                    Member::BindStmt(b) => bind_specs(std::slice::from_ref(b), out),
                    Member::AssertStmt(a) => {
                        collect(&a.0, out);
                        if let Some(m) = &a.1 {
                            collect(m, out);
                        }
                    }
                }
            }
        }
        ObjBody::ObjComp(c) => {
            bind_specs(&c.pre_locals, out);
            collect(&c.key, out);
            collect(&c.value, out);
            bind_specs(&c.post_locals, out);
            comp_specs(&c.compspecs, out);
        }
    }
}

fn bind_specs(binds: &[BindSpec], out: &mut Vec<Import>) {
    for b in binds {
        if let Some(p) = &b.params {
            params_desc(p, out);
        }
        collect(&b.value, out);
    }
}

fn params_desc(p: &ParamsDesc, out: &mut Vec<Import>) {
    for param in p.iter() {
        if let Some(d) = &param.1 {
            collect(d, out);
        }
    }
}

fn args_desc(a: &ArgsDesc, out: &mut Vec<Import>) {
    for arg in a.iter() {
        collect(&arg.1, out);
    }
}

fn comp_specs(specs: &[CompSpec], out: &mut Vec<Import>) {
    for s in specs {
        match s {
            CompSpec::IfSpec(i) => collect(&i.0, out),
            CompSpec::ForSpec(f) => collect(&f.1, out),
        }
    }
}

/// Turn a file's result into objects: an object, or (nested) arrays of them.
pub(crate) fn flatten(value: Value, origin: &str, out: &mut Vec<(String, Value)>) {
    fn go(
        value: Value,
        origin: &str,
        counter: &mut usize,
        top: bool,
        out: &mut Vec<(String, Value)>,
    ) {
        match value {
            Value::Array(items) => {
                for item in items {
                    go(item, origin, counter, false, out);
                }
            }
            Value::Null if !top => {}
            v => {
                *counter += 1;
                let o = if top {
                    origin.to_string()
                } else {
                    format!("{origin} (item {counter})")
                };
                out.push((o, v));
            }
        }
    }
    let mut counter = 0;
    go(value, origin, &mut counter, true, out);
}
