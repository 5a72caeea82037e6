//! go-plugin's launch protocol as Grafana drives it: the magic cookie check, the
//! `PLUGIN_PROTOCOL_VERSIONS` negotiation, the listener (a Unix socket in a private directory on
//! Unix, TCP on 127.0.0.1 within `PLUGIN_MIN_PORT..=PLUGIN_MAX_PORT` elsewhere) and the one
//! handshake line on stdout.
//!
//! The socket goes in `PLUGIN_UNIX_SOCKET_DIR`, else `$TMPDIR`, else `/tmp`. Where the first
//! cannot hold it (missing, not writable, or so deep that the socket path would pass the OS's
//! limit of [`MAX_SOCKET_PATH`] bytes, where go-plugin's own plugins fail), the next is used with
//! a warning; when none can, start-up stops with an error listing each and why.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;

/// Environment variable of the magic cookie Grafana sets for every backend plugin.
pub const MAGIC_COOKIE_KEY: &str = "grafana_plugin_type";
/// Its value.
pub const MAGIC_COOKIE_VALUE: &str = "datasource";
/// go-plugin's core protocol version (the handshake line's first field).
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The application protocol version Grafana's secrets-manager client speaks.
pub const APP_PROTOCOL_VERSION: u32 = 2;

/// What go-plugin prints on stderr when a plugin binary is run by hand.
pub const HINT: &str = "This binary is a plugin. These are not meant to be executed directly.\n\
Please execute the program that consumes these plugins, which will\n\
load any plugins automatically\n";

/// Why the handshake could not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The host offered no protocol version we speak.
    #[error("PLUGIN_PROTOCOL_VERSIONS is {offered:?}, which does not include version {APP_PROTOCOL_VERSION}, the only version this plugin speaks; upgrade the host or use a matching plugin")]
    UnsupportedVersion {
        /// The host's list.
        offered: String,
    },
    /// A port-range variable was not a port number.
    #[error("{name} is {value:?}, which is not a port number (1-65535)")]
    BadPort {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// No port in the range could be bound.
    #[error("no free TCP port on 127.0.0.1 between {min} and {max}")]
    NoFreePort {
        /// Lowest port tried.
        min: u16,
        /// Highest port tried.
        max: u16,
    },
    /// No candidate directory could hold the socket.
    #[error(
        "cannot create the plugin's Unix socket in any of: {}. Set PLUGIN_UNIX_SOCKET_DIR to a \
         short, writable directory",
        .tried.iter().map(|(dir, why)| format!("{dir} ({why})")).collect::<Vec<_>>().join("; ")
    )]
    NoSocketDir {
        /// Each directory tried (with where it came from) and why it failed.
        tried: Vec<(String, String)>,
    },
    /// Creating the socket directory or binding failed.
    #[error("cannot create the plugin's listener at {path}: {source}")]
    Io {
        /// What we tried to create.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Whether the magic cookie is present with the right value.
pub fn cookie_present(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env(MAGIC_COOKIE_KEY).as_deref() == Some(MAGIC_COOKIE_VALUE)
}

/// Picks the protocol version from the host's comma-separated `PLUGIN_PROTOCOL_VERSIONS`; an
/// unset or empty list means an old host that speaks only its configured version (2 for Grafana).
pub fn negotiate_version(offered: Option<&str>) -> Result<u32, HandshakeError> {
    let Some(list) = offered.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(APP_PROTOCOL_VERSION);
    };
    if list
        .split(',')
        .any(|v| v.trim().parse::<u32>() == Ok(APP_PROTOCOL_VERSION))
    {
        Ok(APP_PROTOCOL_VERSION)
    } else {
        Err(HandshakeError::UnsupportedVersion {
            offered: list.to_string(),
        })
    }
}

/// The handshake line (without newline): `1|2|<network>|<address>|grpc`, plus the server
/// certificate (DER, base64 without padding) as a 6th field under AutoMTLS only.
pub fn handshake_line(network: &str, address: &str, server_cert_der: Option<&[u8]>) -> String {
    let mut line =
        format!("{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|{network}|{address}|grpc");
    if let Some(der) = server_cert_der {
        line.push('|');
        line.push_str(&base64::engine::general_purpose::STANDARD_NO_PAD.encode(der));
    }
    line
}

/// The port range from `PLUGIN_MIN_PORT`/`PLUGIN_MAX_PORT` (go-plugin's defaults 10000..=25000).
pub fn port_range(env: &dyn Fn(&str) -> Option<String>) -> Result<(u16, u16), HandshakeError> {
    let read = |name: &'static str, default: u16| match env(name) {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or(HandshakeError::BadPort { name, value: v }),
    };
    let min = read("PLUGIN_MIN_PORT", 10_000)?;
    let max = read("PLUGIN_MAX_PORT", 25_000)?;
    Ok((min, max.max(min)))
}

/// Binds the first free port on 127.0.0.1 within `min..=max`.
#[cfg_attr(unix, allow(dead_code))]
pub async fn bind_tcp_in_range(
    min: u16,
    max: u16,
) -> Result<tokio::net::TcpListener, HandshakeError> {
    for port in min..=max {
        if let Ok(l) = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
        {
            return Ok(l);
        }
    }
    Err(HandshakeError::NoFreePort { min, max })
}

/// Longest Unix socket path the OS accepts, in bytes (`sun_path` less its terminating NUL).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub const MAX_SOCKET_PATH: usize = 107;
/// Longest Unix socket path the OS accepts, in bytes (`sun_path` less its terminating NUL).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub const MAX_SOCKET_PATH: usize = 103;

/// A Unix socket's private directory and path; both are removed on drop.
#[cfg(unix)]
#[derive(Debug)]
pub struct PrivateSocket {
    /// The socket's path (the handshake address).
    pub path: PathBuf,
    dir: PathBuf,
}

/// Name of the socket inside its private directory (short: the whole path must fit in
/// [`MAX_SOCKET_PATH`]; with the directory's name it adds what go-plugin's own name adds).
#[cfg(unix)]
const SOCKET_NAME: &str = "s";

#[cfg(unix)]
impl PrivateSocket {
    /// Creates directory `plugin<8 hex digits>` (mode 0700) inside `parent` and binds socket
    /// `s` in it (mode 0600), so only our user can connect. Needs a running tokio runtime.
    pub fn bind(parent: &Path) -> Result<(tokio::net::UnixListener, Self), HandshakeError> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| HandshakeError::Io { path, source }
        };
        let longest = parent
            .join(format!("plugin{:08x}", 0))
            .join(SOCKET_NAME)
            .as_os_str()
            .len();
        if longest > MAX_SOCKET_PATH {
            return Err(HandshakeError::Io {
                path: parent.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "the socket path would be {longest} bytes, more than the {MAX_SOCKET_PATH} \
                         a Unix socket path may have"
                    ),
                ),
            });
        }
        let mut attempt = 0;
        let dir = loop {
            let dir = parent.join(format!("plugin{:08x}", rand::random::<u32>()));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => {
                    attempt += 1;
                }
                Err(e) => return Err(io(&dir)(e)),
            }
        };
        let path = dir.join(SOCKET_NAME);
        // From here on, dropping `guard` removes what we created.
        let guard = Self { path, dir };
        let listener = tokio::net::UnixListener::bind(&guard.path).map_err(io(&guard.path))?;
        std::fs::set_permissions(&guard.path, std::fs::Permissions::from_mode(0o600))
            .map_err(io(&guard.path))?;
        Ok((listener, guard))
    }

    /// Binds in the first of `parents` (directory, where it came from) that works; warns when
    /// the first did not. The error lists every directory tried and why it failed.
    pub fn bind_first(
        parents: &[(PathBuf, String)],
    ) -> Result<(tokio::net::UnixListener, Self), HandshakeError> {
        let mut tried = Vec::new();
        for (parent, origin) in parents {
            match Self::bind(parent) {
                Ok(bound) => {
                    if let Some((first, why)) = tried.first() {
                        tracing::warn!(
                            skipped = %first,
                            reason = %why,
                            using = %parent.display(),
                            "cannot create the plugin socket in the first choice of directory; \
                             using the next"
                        );
                    }
                    return Ok(bound);
                }
                Err(e) => {
                    let why = match e {
                        HandshakeError::Io { source, .. } => source.to_string(),
                        other => other.to_string(),
                    };
                    tried.push((format!("{} ({origin})", parent.display()), why));
                }
            }
        }
        Err(HandshakeError::NoSocketDir { tried })
    }
}

#[cfg(unix)]
impl Drop for PrivateSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Where the socket directory may go, in order, each with where it came from:
/// `PLUGIN_UNIX_SOCKET_DIR`, `$TMPDIR`, `/tmp` (unset or empty variables skipped, duplicates
/// once).
pub fn socket_parents(env: &dyn Fn(&str) -> Option<String>) -> Vec<(PathBuf, String)> {
    let mut parents: Vec<(PathBuf, String)> = Vec::new();
    let mut add = |dir: PathBuf, origin: &str| {
        if !parents.iter().any(|(d, _)| *d == dir) {
            parents.push((dir, origin.to_string()));
        }
    };
    for name in ["PLUGIN_UNIX_SOCKET_DIR", "TMPDIR"] {
        if let Some(dir) = env(name).filter(|d| !d.is_empty()) {
            add(PathBuf::from(dir), name);
        }
    }
    add(PathBuf::from("/tmp"), "the system temporary directory");
    parents
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn cookie() {
        assert!(cookie_present(&env(&[(
            "grafana_plugin_type",
            "datasource"
        )])));
        assert!(!cookie_present(&env(&[("grafana_plugin_type", "other")])));
        assert!(!cookie_present(&env(&[])));
    }

    #[test]
    fn versions() {
        assert_eq!(negotiate_version(Some("2")).unwrap(), 2);
        assert_eq!(negotiate_version(Some("1, 2,3")).unwrap(), 2);
        assert_eq!(negotiate_version(None).unwrap(), 2);
        let e = negotiate_version(Some("1,3")).unwrap_err().to_string();
        assert!(
            e.contains("PLUGIN_PROTOCOL_VERSIONS") && e.contains("\"1,3\""),
            "{e}"
        );
    }

    #[test]
    fn line() {
        assert_eq!(
            handshake_line("unix", "/tmp/x/plugin.sock", None),
            "1|2|unix|/tmp/x/plugin.sock|grpc"
        );
        let l = handshake_line("tcp", "127.0.0.1:10000", Some(&[0xff, 0xfe, 0xfd, 0xfc]));
        assert_eq!(l, "1|2|tcp|127.0.0.1:10000|grpc|//79/A");
    }

    #[test]
    fn ports() {
        assert_eq!(port_range(&env(&[])).unwrap(), (10_000, 25_000));
        assert_eq!(
            port_range(&env(&[
                ("PLUGIN_MIN_PORT", "20000"),
                ("PLUGIN_MAX_PORT", "20010")
            ]))
            .unwrap(),
            (20_000, 20_010)
        );
        assert!(port_range(&env(&[("PLUGIN_MIN_PORT", "x")])).is_err());
    }

    #[tokio::test]
    async fn tcp_in_range_skips_taken_ports() {
        let first = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let taken = first.local_addr().unwrap().port();
        let l = bind_tcp_in_range(taken, taken.saturating_add(20))
            .await
            .unwrap();
        let got = l.local_addr().unwrap().port();
        assert!(got > taken && got <= taken + 20, "{got}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn private_socket_modes_and_cleanup() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let (_listener, s) = PrivateSocket::bind(parent.path()).unwrap();
        let dir = s.path.parent().unwrap().to_path_buf();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&s.path), 0o600);
        drop(s);
        assert!(!dir.exists());
    }

    #[test]
    fn socket_parents_in_order_without_duplicates() {
        let p = socket_parents(&env(&[
            ("PLUGIN_UNIX_SOCKET_DIR", "/run/grafana"),
            ("TMPDIR", "/tmp"),
        ]));
        let dirs: Vec<_> = p.iter().map(|(d, _)| d.display().to_string()).collect();
        assert_eq!(dirs, ["/run/grafana", "/tmp"]);
        assert_eq!(p[0].1, "PLUGIN_UNIX_SOCKET_DIR");
        let p = socket_parents(&env(&[
            ("PLUGIN_UNIX_SOCKET_DIR", ""),
            ("TMPDIR", "/var/tmp"),
        ]));
        let dirs: Vec<_> = p.iter().map(|(d, _)| d.display().to_string()).collect();
        assert_eq!(dirs, ["/var/tmp", "/tmp"]);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_too_long_or_missing_directory_falls_back_then_fails_clearly() {
        let root = tempfile::tempdir().unwrap();
        let mut deep = root.path().to_path_buf();
        while deep.as_os_str().len() < MAX_SOCKET_PATH {
            deep.push("d123456789");
        }
        std::fs::create_dir_all(&deep).unwrap();
        let fallback = tempfile::tempdir().unwrap();
        let parents = vec![
            (deep.clone(), "PLUGIN_UNIX_SOCKET_DIR".to_string()),
            (root.path().join("missing"), "TMPDIR".to_string()),
            (fallback.path().to_path_buf(), "/tmp".to_string()),
        ];
        let (_l, s) = PrivateSocket::bind_first(&parents).unwrap();
        assert!(s.path.starts_with(fallback.path()), "{}", s.path.display());
        assert!(s.path.as_os_str().len() <= MAX_SOCKET_PATH);
        let e = PrivateSocket::bind_first(&parents[..2])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&deep.display().to_string())
                && e.contains("PLUGIN_UNIX_SOCKET_DIR")
                && e.contains(&format!("more than the {MAX_SOCKET_PATH}"))
                && e.contains("missing (TMPDIR)"),
            "{e}"
        );
    }
}
