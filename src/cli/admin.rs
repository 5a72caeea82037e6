//! Admin commands on the configured backend: get, set (value from stdin or a file, never from the
//! command line), delete, list, rename and export (JSON; values only with --include-values).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use clap::Args;
use secrets_broker::backends::{self, SecretStore};
use secrets_broker::config::LogLevel;
use secrets_broker::domain::{ListFilter, Rename, SecretKey, SecretValue, MAX_VALUE_BYTES};
use zeroize::{Zeroize, Zeroizing};

use super::{start, GlobalOpts};

/// Which secret: namespace, org and type.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Namespace (for data sources: the data source's name).
    namespace: String,
    /// Organization id.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    org: i64,
    /// Type (Grafana stores data-source secrets with type `datasource`).
    #[arg(long = "type", default_value = "datasource")]
    kind: String,
}

impl KeyArgs {
    fn key(&self) -> anyhow::Result<SecretKey> {
        SecretKey::new(self.org, self.namespace.clone(), self.kind.clone())
            .map_err(|e| anyhow!("invalid key: {e}"))
    }
}

/// Options of `set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// Read the value from this file instead of stdin.
    #[arg(long, value_name = "FILE")]
    value_file: Option<PathBuf>,
    /// Keep one trailing newline of the input (by default one trailing "\n" or "\r\n" is removed).
    #[arg(long)]
    keep_newline: bool,
}

/// Options of `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Namespace to match exactly.
    namespace: String,
    /// Organization id (ignored with --all-orgs).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    org: i64,
    /// Type to match exactly.
    #[arg(long = "type", default_value = "datasource")]
    kind: String,
    /// Match in every organization.
    #[arg(long)]
    all_orgs: bool,
}

/// Options of `rename`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// The new namespace.
    new_namespace: String,
}

/// Options of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Include the plaintext values (otherwise only keys, sizes and SHA-256 digests).
    #[arg(long)]
    include_values: bool,
    /// Write to this file instead of stdout (mode 0600, replacing any existing file; a missing
    /// directory is created with mode 0700).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// One admin command.
#[derive(Debug)]
pub enum Admin {
    /// get
    Get(KeyArgs),
    /// set
    Set(SetArgs),
    /// delete
    Delete(KeyArgs),
    /// list
    List(ListArgs),
    /// rename
    Rename(RenameArgs),
    /// export
    Export(ExportArgs),
}

/// Runs an admin command; errors are printed as `error: ...` on stderr with exit code 1.
pub async fn run(global: &GlobalOpts, cmd: Admin) -> ExitCode {
    let Some(config) = start(global, LogLevel::Warn) else {
        return ExitCode::FAILURE;
    };
    let store = match backends::build(&config.backend).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "error: cannot open the {} backend: {e}",
                config.backend.name()
            );
            return ExitCode::FAILURE;
        }
    };
    match execute(store, cmd).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(store: Arc<dyn SecretStore>, cmd: Admin) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        Admin::Get(k) => {
            let key = k.key()?;
            let value = store
                .get(&key)
                .await
                .with_context(|| format!("cannot read ({key})"))?
                .ok_or_else(|| anyhow!("no secret stored at ({key})"))?;
            out.write_all(value.expose().as_bytes())?;
            out.write_all(b"\n")?;
        }
        Admin::Set(a) => {
            let key = a.key.key()?;
            let mut raw = read_value(&a)?;
            let value = SecretValue::new(std::mem::take(&mut *raw))
                .map_err(|e| anyhow!("invalid value: {e}"))?;
            store
                .set(&key, &value)
                .await
                .with_context(|| format!("cannot store ({key})"))?;
            eprintln!("stored {} bytes at ({key})", value.len());
        }
        Admin::Delete(k) => {
            let key = k.key()?;
            store
                .delete(&key)
                .await
                .with_context(|| format!("cannot delete ({key})"))?;
            eprintln!("deleted ({key})");
        }
        Admin::List(a) => {
            // The org is irrelevant (and not checked) with --all-orgs.
            let filter = ListFilter::new((!a.all_orgs).then_some(a.org), a.namespace, a.kind)
                .map_err(|e| anyhow!("invalid filter: {e}"))?;
            let mut keys = store.list(&filter).await.context("cannot list")?;
            keys.sort();
            for k in keys {
                writeln!(out, "{}\t{}\t{}", k.org_id(), k.namespace(), k.kind())?;
            }
        }
        Admin::Rename(a) => {
            let key = a.key.key()?;
            let rename = Rename::new(key.clone(), a.new_namespace.clone())
                .map_err(|e| anyhow!("invalid new namespace: {e}"))?;
            store
                .rename_key(&rename)
                .await
                .with_context(|| format!("cannot rename ({key})"))?;
            eprintln!("renamed ({key}) to namespace {:?}", a.new_namespace);
        }
        Admin::Export(a) => {
            let mut items = store.get_all().await.context("cannot read all secrets")?;
            items.sort_by(|x, y| x.key.cmp(&y.key));
            let mut doc = export_json(&items, a.include_values);
            let mut text = Zeroizing::new(serde_json::to_string_pretty(&doc)?);
            wipe_values(&mut doc);
            text.push('\n');
            match a.output {
                None => out.write_all(text.as_bytes())?,
                Some(path) => {
                    write_private(&path, text.as_bytes())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("exported {} secrets to {}", items.len(), path.display());
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Reads the value from --value-file or stdin into one buffer sized up front (no reallocation
/// leaves an unwiped copy behind) and wiped on drop, reading at most a few bytes more than any
/// acceptable value, so a huge input is refused without being held in memory.
fn read_value(a: &SetArgs) -> anyhow::Result<Zeroizing<String>> {
    // The largest value plus a trailing "\r\n", plus one byte to notice a larger input.
    let limit = MAX_VALUE_BYTES + 2;
    let mut buf = Zeroizing::new(Vec::with_capacity(limit + 64));
    let (source, what): (Box<dyn Read>, String) = match &a.value_file {
        Some(path) => (
            Box::new(
                std::fs::File::open(path)
                    .with_context(|| format!("cannot read the value from {}", path.display()))?,
            ),
            path.display().to_string(),
        ),
        None => (Box::new(std::io::stdin()), "stdin".to_string()),
    };
    let mut source = source.take(limit as u64 + 1);
    source
        .read_to_end(&mut buf)
        .with_context(|| format!("cannot read the value from {what}"))?;
    if buf.len() > limit {
        // Let a writer on the other end of a pipe finish (up to 16 MiB), without keeping it.
        source.set_limit(16 << 20);
        let _ = std::io::copy(&mut source, &mut std::io::sink());
        return Err(anyhow!(
            "invalid value: the value from {what} is larger than {MAX_VALUE_BYTES} bytes; at most \
             {MAX_VALUE_BYTES} bytes are allowed"
        ));
    }
    let mut raw = match String::from_utf8(std::mem::take(&mut *buf)) {
        Ok(text) => Zeroizing::new(text),
        Err(e) => {
            e.into_bytes().zeroize();
            return Err(anyhow!(
                "cannot read the value from {what}: it must be UTF-8 text"
            ));
        }
    };
    if !a.keep_newline {
        if raw.ends_with("\r\n") {
            let n = raw.len() - 2;
            raw.truncate(n);
        } else if raw.ends_with('\n') {
            let n = raw.len() - 1;
            raw.truncate(n);
        }
    }
    Ok(raw)
}

/// The export document: a JSON array, one object per secret.
pub fn export_json(
    items: &[secrets_broker::domain::Item],
    include_values: bool,
) -> serde_json::Value {
    let rows = items
        .iter()
        .map(|i| {
            let mut row = serde_json::json!({
                "orgId": i.key.org_id(),
                "namespace": i.key.namespace(),
                "type": i.key.kind(),
                "bytes": i.value.len(),
                "sha256": i.value.digest(),
            });
            if include_values {
                row["value"] = serde_json::Value::from(i.value.expose());
            }
            row
        })
        .collect();
    serde_json::Value::Array(rows)
}

/// Overwrites the copies of the values in an export document before it is dropped.
fn wipe_values(doc: &mut serde_json::Value) {
    for row in doc.as_array_mut().into_iter().flatten() {
        if let Some(serde_json::Value::String(v)) = row.get_mut("value") {
            v.zeroize();
        }
    }
}

/// Exports hold digests (and with --include-values the values): owner-only, written atomically
/// so an existing, more open file at `path` is replaced rather than rewritten in place.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    secrets_broker::migrate::checkpoint::write_private_atomically(path, bytes)
}
