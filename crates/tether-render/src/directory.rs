//! A plain directory of YAML/JSON files (and, for the Jsonnet tool, `*.jsonnet`
//! files evaluated beside them, as Argo CD's directory source does).

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use tether_model::{DirectoryOptions, Tool};

use crate::paths::{self, Event, WalkOptions, shown};
use crate::{Ctx, Manifest, RenderError, jsonnet, yaml};

pub(crate) struct DirRequest<'a> {
    pub rel: &'a str,
    pub dir: &'a Path,
    pub opts: Option<&'a DirectoryOptions>,
    /// Set for the Jsonnet tool: `*.jsonnet` files are evaluated too.
    pub jsonnet: Option<&'a jsonnet::Setup>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Yaml,
    Json,
    Jsonnet,
}

pub(crate) fn render(ctx: &Ctx, req: &DirRequest<'_>) -> Result<Vec<Manifest>, RenderError> {
    let opts = req.opts.cloned().unwrap_or_default();
    let include = globs(&opts.include, "directory.include")?;
    let exclude = globs(&opts.exclude, "directory.exclude")?;

    let mut files: Vec<(String, PathBuf, u64, Kind)> = Vec::new();
    let walk_opts = WalkOptions {
        recurse: opts.recurse,
        skip_hidden: true,
    };
    paths::walk(&ctx.root_canon, req.dir, req.rel, walk_opts, &mut |ev| {
        if let Event::File { rel, path, meta } = ev {
            let kind = if rel.ends_with(".yaml") || rel.ends_with(".yml") {
                Kind::Yaml
            } else if rel.ends_with(".json") {
                Kind::Json
            } else if req.jsonnet.is_some() && rel.ends_with(".jsonnet") {
                Kind::Jsonnet
            } else {
                return Ok(());
            };
            // Globs are relative to the app path, as users write them.
            let local = if req.rel.is_empty() {
                rel
            } else {
                rel.strip_prefix(req.rel)
                    .map(|r| r.trim_start_matches('/'))
                    .unwrap_or(rel)
            };
            if include.as_ref().is_some_and(|g| !g.is_match(local))
                || exclude.as_ref().is_some_and(|g| g.is_match(local))
            {
                return Ok(());
            }
            files.push((rel.to_string(), path.to_path_buf(), meta.len(), kind));
        }
        Ok(())
    })?;

    let mut total = 0u64;
    let mut manifests = Vec::new();
    for (rel, path, size, kind) in files {
        if size > ctx.max_file_size {
            return Err(RenderError::FileTooLarge {
                file: rel,
                size,
                limit: ctx.max_file_size,
            });
        }
        total += size;
        if total > ctx.max_output_size {
            return Err(RenderError::FileTooLarge {
                file: format!("{} (all files together)", shown(req.rel)),
                size: total,
                limit: ctx.max_output_size,
            });
        }
        match kind {
            Kind::Jsonnet => {
                let Some(setup) = req.jsonnet else { continue };
                let value = jsonnet::evaluate(ctx, setup, &path, &rel)?;
                let mut objects = Vec::new();
                jsonnet::flatten(value, &rel, &mut objects);
                for (origin, v) in objects {
                    yaml::add_object(&mut manifests, v, origin)?;
                }
            }
            Kind::Yaml | Kind::Json => {
                let text = std::fs::read_to_string(&path).map_err(|e| RenderError::io(&rel, e))?;
                let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
                let docs = if kind == Kind::Json {
                    yaml::parse_json_stream(text, &rel)?
                } else {
                    yaml::parse_yaml_stream(text, &|_| rel.clone())?
                };
                for (line, value) in docs {
                    yaml::add_object(&mut manifests, value, format!("{rel}:{line}"))?;
                }
            }
        }
    }
    Ok(manifests)
}

fn globs(patterns: &[String], option: &str) -> Result<Option<GlobSet>, RenderError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let glob = Glob::new(p).map_err(|e| RenderError::Tool {
            tool: Tool::Directory,
            command: format!("{option} {p:?}"),
            status: "is not a valid glob".into(),
            stderr: e.to_string(),
        })?;
        b.add(glob);
    }
    b.build().map(Some).map_err(|e| RenderError::Tool {
        tool: Tool::Directory,
        command: option.into(),
        status: "is not a valid glob".into(),
        stderr: e.to_string(),
    })
}
