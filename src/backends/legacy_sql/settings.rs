//! Configuration of the `legacy_sql` backend: the broker's `legacy_*` settings, and reading a
//! Grafana ini file (`[database]`, `[security] secret_key`, `[paths] data`) with Grafana's
//! `GF_<SECTION>_<KEY>` environment overrides and `$__env{}` / `$__file{}` expansion.
//!
//! Neither the secret_key nor a database password ever appears in `Debug` output or errors.

use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::backends::settings::{ConfigError, Settings};

/// Settings keys this backend reads.
pub const KEYS: &[&str] = &[
    "legacy_database_url",
    "legacy_secret_key",
    "legacy_grafana_ini",
    "legacy_read_only",
    "legacy_create_tables",
];

/// Grafana's built-in default `[security] secret_key`.
pub const DEFAULT_SECRET_KEY: &str = "SW2YcwTIb9zpOOhoPsMm";

/// Which database to open.
#[derive(Clone)]
#[non_exhaustive]
pub enum DbTarget {
    /// A connection URL: `sqlite://path`, `postgres://…`, `mysql://…` (MariaDB too).
    Url(String),
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL or MySQL server described field by field (from a Grafana ini).
    Server(ServerTarget),
}

/// A database server as Grafana's `[database]` section describes it.
#[derive(Clone)]
pub struct ServerTarget {
    /// `postgres` or `mysql`.
    pub kind: ServerKind,
    /// Host name or address, or a unix socket path (starting with `/`).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database name.
    pub name: String,
    /// User.
    pub user: String,
    /// Password (never printed).
    pub password: Zeroizing<String>,
    /// PostgreSQL `sslmode` (`disable`, `require`, `verify-ca`, `verify-full`).
    pub ssl_mode: Option<String>,
}

/// The server dialects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl fmt::Debug for ServerTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {}@{}:{}/{} (password <redacted>)",
            self.kind, self.user, self.host, self.port, self.name
        )
    }
}

impl fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbTarget::Url(u) => write!(f, "Url({:?})", redact_url(u)),
            DbTarget::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            DbTarget::Server(s) => write!(f, "Server({s:?})"),
        }
    }
}

/// A database URL safe to print: `scheme://user:<redacted>@host/db?sslmode=…`.
///
/// Passwords are not always percent-encoded, so the URL is read the cautious way: the user-info
/// part runs to the **last** `@` (a password may hold `/`, `?`, `#`, `:` or `@`), and from the
/// first password-like query parameter (`password`, `sslpassword`, `passwd`, `pwd`, … in any
/// case) to the end everything is redacted (an unencoded `&` or `#` in its value would otherwise
/// leave the tail visible). Anything that is not `scheme://…` prints as `<unparseable url>`
/// unless it is a plain `sqlite:` path.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        if url.starts_with("sqlite:") && !url.contains('@') && password_param_at(url).is_none() {
            return url.to_string();
        }
        return "<unparseable url>".into();
    };
    let (user_info, host_and_rest) = match rest.rfind('@') {
        Some(at) => {
            let user = &rest[..at];
            let shown = match user.split_once(':') {
                // The last `@` was inside a query: show nothing of what precedes it.
                _ if password_param_at(user).is_some() => "<redacted>@".to_string(),
                Some((name, _)) => format!("{name}:<redacted>@"),
                None => format!("{user}@"),
            };
            (shown, &rest[at + 1..])
        }
        None => (String::new(), rest),
    };
    let tail = match password_param_at(host_and_rest) {
        Some(i) => format!("{}<redacted>", &host_and_rest[..i]),
        None => host_and_rest.to_string(),
    };
    format!("{scheme}://{user_info}{tail}")
}

/// Whether a query parameter name holds a password or other credential.
pub(crate) fn is_password_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["pass", "pwd", "secret", "token"]
        .iter()
        .any(|p| n.contains(p))
}

/// Byte offset just past `name=` of the first password-like query parameter in `s` (a name
/// after `?`, `&` or `;`), if any.
fn password_param_at(s: &str) -> Option<usize> {
    let q = s.find('?')?;
    let mut start = q + 1;
    loop {
        let end = s[start..].find(['&', ';']).map_or(s.len(), |i| start + i);
        let pair = &s[start..end];
        if let Some((name, _)) = pair.split_once('=') {
            if is_password_param(name) {
                return Some(start + name.len() + 1);
            }
        }
        if end >= s.len() {
            return None;
        }
        start = end + 1;
    }
}

/// Settings of the legacy_sql backend. `Debug` redacts the secret_key and any password.
#[derive(Clone)]
pub struct LegacySqlConfig {
    /// The database.
    pub target: DbTarget,
    /// Grafana's `[security] secret_key`.
    pub secret_key: Zeroizing<String>,
    /// Refuse every write.
    pub read_only: bool,
    /// Create `secrets` and `data_keys` when missing (standalone use only; never on Grafana's DB).
    pub create_tables: bool,
}

impl fmt::Debug for LegacySqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacySqlConfig")
            .field("target", &self.target)
            .field("secret_key", &"<redacted>")
            .field("read_only", &self.read_only)
            .field("create_tables", &self.create_tables)
            .finish()
    }
}

impl LegacySqlConfig {
    /// A config for `url` and `secret_key`, writable, without table creation.
    pub fn new(url: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            target: DbTarget::Url(url.into()),
            secret_key: Zeroizing::new(secret_key.into()),
            read_only: false,
            create_tables: false,
        }
    }

    /// Reads this backend's keys. Either `legacy_database_url` (with `legacy_secret_key`) or
    /// `legacy_grafana_ini` is required; explicit `legacy_*` keys win over the ini file.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let read_only = settings.bool("legacy_read_only", false)?;
        let create_tables = settings.bool("legacy_create_tables", false)?;
        let ini = match settings.get("legacy_grafana_ini") {
            Some(path) => Some(
                GrafanaIni::load(Path::new(path), settings.environment())
                    .map_err(|m| settings.error("legacy_grafana_ini", m))?,
            ),
            None => None,
        };
        let target = match (settings.get("legacy_database_url"), &ini) {
            (Some(url), _) => {
                check_url_scheme(url).map_err(|m| settings.error("legacy_database_url", m))?;
                DbTarget::Url(url.to_string())
            }
            (None, Some(ini)) => ini.target.clone(),
            (None, None) => {
                return Err(settings.error(
                    "legacy_database_url",
                    "is required by the legacy_sql backend (or set legacy_grafana_ini to a \
                     Grafana ini file)",
                ))
            }
        };
        let secret_key = match (settings.get("legacy_secret_key"), &ini) {
            (Some(k), _) => Zeroizing::new(k.to_string()),
            (None, Some(ini)) => ini.secret_key.clone(),
            (None, None) => {
                return Err(settings.error(
                    "legacy_secret_key",
                    "is required with legacy_database_url: Grafana's [security] secret_key",
                ))
            }
        };
        Ok(Self {
            target,
            secret_key,
            read_only,
            create_tables,
        })
    }
}

fn check_url_scheme(url: &str) -> Result<(), String> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme {
        "sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb" => Ok(()),
        _ => Err("expected a sqlite://, postgres:// or mysql:// URL".into()),
    }
}

/// What a Grafana ini file (plus `GF_*` environment overrides) says about the database and the
/// secret_key.
#[derive(Clone, Debug)]
pub struct GrafanaIni {
    /// The database.
    pub target: DbTarget,
    /// `[security] secret_key` (Grafana's default when unset).
    pub secret_key: Zeroizing<String>,
}

impl GrafanaIni {
    /// Reads `path` and applies the `GF_<SECTION>_<KEY>` (and `GF_<SECTION>_<KEY>__FILE`)
    /// overrides found in `env`. Errors name the file and the setting, never a value.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read Grafana ini {}: {e}", path.display()))?;
        let opt = ini::ParseOption {
            enabled_quote: true,
            enabled_escape: false,
            ..Default::default()
        };
        let file = ini::Ini::load_from_str_opt(&text, opt)
            .map_err(|e| format!("{} is not a valid ini file: {e}", path.display()))?;
        let env: Vec<(String, String)> = env.into_iter().collect();
        let get = |section: &str, key: &str| -> Result<Option<String>, String> {
            let env_name = format!(
                "GF_{}_{}",
                section.to_ascii_uppercase().replace(['.', '-'], "_"),
                key.to_ascii_uppercase()
            );
            let file_env = format!("{env_name}__FILE");
            let raw = if let Some((_, v)) = env.iter().find(|(k, _)| *k == env_name) {
                Some(v.clone())
            } else if let Some((_, p)) = env.iter().find(|(k, _)| *k == file_env) {
                Some(read_secret_file(p, &file_env)?)
            } else {
                file.get_from(Some(section), key).map(str::to_string)
            };
            match raw {
                None => Ok(None),
                Some(v) => {
                    let v = expand(&v, &env).map_err(|m| format!("[{section}] {key}: {m}"))?;
                    Ok(Some(v).filter(|v| !v.is_empty()))
                }
            }
        };
        let secret_key = Zeroizing::new(
            get("security", "secret_key")?.unwrap_or_else(|| DEFAULT_SECRET_KEY.to_string()),
        );
        let db_type = get("database", "type")?.unwrap_or_else(|| "sqlite3".into());
        let target = if let Some(url) = get("database", "url")? {
            check_url_scheme(&url).map_err(|m| format!("[database] url: {m}"))?;
            DbTarget::Url(url)
        } else {
            match db_type.as_str() {
                "sqlite3" | "sqlite" => {
                    let file_path = get("database", "path")?.unwrap_or_else(|| "grafana.db".into());
                    let base = path.parent().unwrap_or(Path::new("."));
                    let data = get("paths", "data")?
                        .map(|d| base.join(d))
                        .unwrap_or_else(|| base.to_path_buf());
                    DbTarget::Sqlite(data.join(file_path))
                }
                "postgres" | "mysql" => {
                    let kind = if db_type == "postgres" {
                        ServerKind::Postgres
                    } else {
                        ServerKind::MySql
                    };
                    let default_port = if kind == ServerKind::Postgres {
                        5432
                    } else {
                        3306
                    };
                    let host_port =
                        get("database", "host")?.unwrap_or_else(|| "127.0.0.1".to_string());
                    let (host, port) = split_host_port(&host_port, default_port)
                        .map_err(|m| format!("[database] host: {m}"))?;
                    DbTarget::Server(ServerTarget {
                        kind,
                        host,
                        port,
                        name: get("database", "name")?.unwrap_or_else(|| "grafana".into()),
                        user: get("database", "user")?.unwrap_or_else(|| "root".into()),
                        password: Zeroizing::new(get("database", "password")?.unwrap_or_default()),
                        ssl_mode: get("database", "ssl_mode")?,
                    })
                }
                other => {
                    return Err(format!(
                        "[database] type {other:?} is not supported (expected sqlite3, postgres \
                         or mysql)"
                    ))
                }
            }
        };
        Ok(Self { target, secret_key })
    }
}

fn read_secret_file(path: &str, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("cannot read the file named by {what}: {e}"))
}

/// Grafana's value expansion: `$__env{NAME}`, `$__file{path}` and `${NAME}`.
fn expand(value: &str, env: &[(String, String)]) -> Result<String, String> {
    let lookup = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut out = String::new();
    let mut rest = value;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let (kind, body_start) = if tail.starts_with("$__env{") {
            ("env", 7)
        } else if tail.starts_with("$__file{") {
            ("file", 8)
        } else if tail.starts_with("${") {
            ("env", 2)
        } else {
            out.push('$');
            rest = &tail[1..];
            continue;
        };
        let close = tail[body_start..]
            .find('}')
            .ok_or_else(|| "unterminated ${…} expression".to_string())?;
        let arg = &tail[body_start..body_start + close];
        if kind == "env" {
            out.push_str(&lookup(arg));
        } else {
            out.push_str(&read_secret_file(arg, "$__file{…}")?);
        }
        rest = &tail[body_start + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn split_host_port(value: &str, default_port: u16) -> Result<(String, u16), String> {
    if value.starts_with('/') {
        return Ok((value.to_string(), default_port));
    }
    if let Some(stripped) = value.strip_prefix('[') {
        // [ipv6]:port
        let (host, rest) = stripped
            .split_once(']')
            .ok_or_else(|| "unterminated [ipv6] address".to_string())?;
        let port = match rest.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| "invalid port".to_string())?,
            None => default_port,
        };
        return Ok((host.to_string(), port));
    }
    match value.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Ok((
            h.to_string(),
            p.parse().map_err(|_| "invalid port".to_string())?,
        )),
        _ => Ok((value.to_string(), default_port)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::backends::settings::test_pairs::owned as env;

    #[test]
    fn ini_with_env_overrides_and_expansion() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret-pw\n").unwrap();
        let ini = dir.path().join("grafana.ini");
        std::fs::write(
            &ini,
            format!(
                "[database]\ntype = postgres\nhost = db.example:6543\nname = gf\nuser = grafana\n\
                 password = $__file{{{}}}\n[security]\nsecret_key = $__env{{MY_KEY}}\n",
                pw.display()
            ),
        )
        .unwrap();
        let g = GrafanaIni::load(
            &ini,
            env(&[("MY_KEY", "k1"), ("GF_DATABASE_NAME", "other")]),
        )
        .unwrap();
        assert_eq!(g.secret_key.as_str(), "k1");
        let DbTarget::Server(s) = &g.target else {
            panic!("{:?}", g.target)
        };
        assert_eq!((s.host.as_str(), s.port), ("db.example", 6543));
        assert_eq!(s.name, "other");
        assert_eq!(s.password.as_str(), "s3cret-pw");
        let dbg = format!("{:?}", g);
        assert!(!dbg.contains("s3cret") && !dbg.contains("k1\""), "{dbg}");
    }

    #[test]
    fn sqlite_defaults_and_default_secret_key() {
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("custom.ini");
        std::fs::write(&ini, "[paths]\ndata = data\n").unwrap();
        let g = GrafanaIni::load(&ini, env(&[])).unwrap();
        assert_eq!(g.secret_key.as_str(), DEFAULT_SECRET_KEY);
        let DbTarget::Sqlite(p) = &g.target else {
            panic!()
        };
        assert_eq!(p, &dir.path().join("data").join("grafana.db"));
        let g = GrafanaIni::load(
            &ini,
            env(&[("GF_DATABASE_URL", "mysql://u:topsecret@h:3306/g")]),
        )
        .unwrap();
        assert!(!format!("{g:?}").contains("topsecret"));
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("postgres://me:pw@host:5432/db?sslmode=disable"),
            "postgres://me:<redacted>@host:5432/db?sslmode=disable"
        );
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
        assert_eq!(redact_url("sqlite:grafana.db"), "sqlite:grafana.db");
        // Unencoded `/`, `?`, `#`, `:` and `@` in the password.
        for pw in ["pa/ss", "pa?ss", "pa#ss", "p:a@s/s?w#d", "x@y"] {
            let url = format!("postgres://grafana:{pw}@db.internal:5432/grafana?sslmode=require");
            let shown = redact_url(&url);
            assert_eq!(
                shown, "postgres://grafana:<redacted>@db.internal:5432/grafana?sslmode=require",
                "{pw}"
            );
        }
        // Password in the query, also unencoded `&` or `#` in it, and in any case.
        for q in [
            "password=qs3cret",
            "sslmode=disable&password=qs3cret&application_name=g",
            "PassWord=qs3&cret",
            "user=g&password=qs#3cret",
            "sslpassword=qs3cret",
        ] {
            let shown = redact_url(&format!("mysql://grafana@db:3306/grafana?{q}"));
            assert!(
                !shown.contains("qs3") && !shown.contains("cret"),
                "{q}: {shown}"
            );
            assert!(
                shown.starts_with("mysql://grafana@db:3306/grafana?"),
                "{shown}"
            );
            assert!(shown.ends_with("=<redacted>"), "{shown}");
        }
        assert_eq!(redact_url("mysql:u:p@h"), "<unparseable url>");
        let shown = redact_url("postgres://h/db?password=a1b2@c3");
        assert!(!shown.contains("a1b2"), "{shown}");
        let c = LegacySqlConfig::new("mysql://root:hunter2@h/db", "sk-value");
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2") && !d.contains("sk-value"), "{d}");
    }
}
