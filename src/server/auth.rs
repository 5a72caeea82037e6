//! Bearer-token authentication of `serve`'s plain gRPC listener: the token (read from a file that
//! only its owner may read, or generated into a fresh private directory), the server-side gate
//! that refuses every call without it (`UNAUTHENTICATED`, before any handler runs), and the
//! client-side interceptor that sends it as gRPC metadata `authorization: Bearer <token>`.
//!
//! Plugin mode does not use it: there the host's go-plugin handshake (a private socket, AutoMTLS)
//! decides who may connect.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::{Request, Status};
use zeroize::Zeroizing;

/// The gRPC metadata key that carries the token.
pub const METADATA_KEY: &str = "authorization";

/// Fewest characters a token may have (a generated one has 64).
pub const MIN_TOKEN_CHARS: usize = 16;

/// Name of the generated token file inside its private directory.
const GENERATED_NAME: &str = "token";

/// Why a token could not be loaded or generated. Messages name the file, never its content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token file can be read by its group or by others.
    #[error(
        "the token file {path} is readable by its group or others (mode {mode:04o}); \
         anyone who can read it can read every secret: run `chmod 600 {path}`"
    )]
    TooOpen {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The token file holds too short a token (or nothing but whitespace).
    #[error(
        "the token file {path} holds a token of {chars} characters; at least {min} are needed \
         (for example 64 hex digits: `openssl rand -hex 32 > {path}`)"
    )]
    TooShort {
        /// The file.
        path: String,
        /// The token's length.
        chars: usize,
        /// [`MIN_TOKEN_CHARS`].
        min: usize,
    },
    /// The token holds a character that cannot travel in an HTTP/2 header.
    #[error("the token file {path} holds characters other than visible ASCII")]
    NotAscii {
        /// The file.
        path: String,
    },
    /// Reading, creating or writing the file (or its directory, the path given) failed.
    #[error("token file {0}: {1}")]
    Io(String, #[source] std::io::Error),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> TokenError + '_ {
    move |source| TokenError::Io(path.display().to_string(), source)
}

/// The secret callers must present. `Debug` never shows it; its memory is wiped on drop.
#[derive(Clone)]
pub struct BearerToken {
    text: Arc<Zeroizing<String>>,
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl BearerToken {
    /// The token in `path` (surrounding whitespace ignored). Refuses a file its group or others
    /// can read, a token shorter than [`MIN_TOKEN_CHARS`] and one that is not visible ASCII.
    pub fn load(path: &Path) -> Result<Self, TokenError> {
        let shown = || path.display().to_string();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(io_error(path))?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                return Err(TokenError::TooOpen {
                    path: shown(),
                    mode,
                });
            }
        }
        let raw = Zeroizing::new(std::fs::read(path).map_err(io_error(path))?);
        let text = std::str::from_utf8(&raw)
            .map_err(|_| TokenError::NotAscii { path: shown() })?
            .trim();
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::NotAscii { path: shown() });
        }
        if text.len() < MIN_TOKEN_CHARS {
            return Err(TokenError::TooShort {
                path: shown(),
                chars: text.len(),
                min: MIN_TOKEN_CHARS,
            });
        }
        Ok(Self {
            text: Arc::new(Zeroizing::new(text.to_string())),
        })
    }

    /// A fresh random token (32 bytes, 64 hex digits) written to `token` (mode 0600) in a new
    /// directory `secrets-broker-serve<8 hex digits>` (mode 0700) inside `parent`. The directory
    /// and the file are removed when the returned [`GeneratedTokenFile`] drops.
    pub fn generate_in(parent: &Path) -> Result<(Self, GeneratedTokenFile), TokenError> {
        use std::io::Write;
        #[cfg(unix)]
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let mut attempt = 0;
        let dir = loop {
            let dir = parent.join(format!("secrets-broker-serve{:08x}", rand::random::<u32>()));
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            builder.mode(0o700);
            match builder.create(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => {
                    attempt += 1;
                }
                Err(e) => return Err(io_error(&dir)(e)),
            }
        };
        let guard = GeneratedTokenFile {
            path: dir.join(GENERATED_NAME),
            dir,
        };
        let token = Self {
            text: Arc::new(Zeroizing::new(hex::encode(rand::random::<[u8; 32]>()))),
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&guard.path).map_err(io_error(&guard.path))?;
        file.write_all(token.text.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .map_err(io_error(&guard.path))?;
        Ok((token, guard))
    }

    /// Whether `presented` is this token, in time that does not depend on where they differ
    /// (both are hashed first, so neither does it depend on their lengths).
    pub fn matches(&self, presented: &[u8]) -> bool {
        let expected = Sha256::digest(self.text.as_bytes());
        let got = Sha256::digest(presented);
        expected.ct_eq(&got).into()
    }

    /// The metadata value `Bearer <token>` a client sends.
    pub fn header_value(&self) -> MetadataValue<Ascii> {
        // The token is visible ASCII (checked when loaded, hex when generated).
        MetadataValue::try_from(format!("Bearer {}", self.text.as_str()))
            .unwrap_or_else(|_| MetadataValue::from_static(""))
    }
}

/// A generated token's file and private directory; both are removed on drop.
#[derive(Debug)]
pub struct GeneratedTokenFile {
    /// The token file.
    pub path: PathBuf,
    dir: PathBuf,
}

impl Drop for GeneratedTokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The server-side check, as a tonic interceptor for every service of the server: with a token,
/// a call without `authorization: Bearer <token>` (or with another token) ends with
/// `UNAUTHENTICATED` before its handler runs; without one (plugin mode) every call passes.
#[derive(Debug, Clone)]
pub struct Gate {
    token: Option<BearerToken>,
}

impl Gate {
    /// A gate that requires `token`, or lets everything through when `None`.
    pub fn new(token: Option<BearerToken>) -> Self {
        Self { token }
    }
}

impl tonic::service::Interceptor for Gate {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(token) = &self.token else {
            return Ok(request);
        };
        let presented = request
            .metadata()
            .get(METADATA_KEY)
            .map(|v| v.as_bytes())
            .and_then(|v| v.strip_prefix(b"Bearer "));
        match presented {
            Some(presented) if token.matches(presented) => Ok(request),
            Some(_) => {
                tracing::warn!("call refused: wrong bearer token");
                Err(Status::unauthenticated(
                    "wrong bearer token: send the token from serve's token file",
                ))
            }
            None => {
                tracing::warn!("call refused: no bearer token");
                Err(Status::unauthenticated(
                    "no bearer token: send gRPC metadata `authorization: Bearer <token>` with \
                     the token from serve's token file",
                ))
            }
        }
    }
}

/// The client side: adds `authorization: Bearer <token>` to every request
/// (`SecretsManagerClient::with_interceptor(channel, BearerAuth::new(&token))`).
#[derive(Debug, Clone)]
pub struct BearerAuth {
    value: MetadataValue<Ascii>,
}

impl BearerAuth {
    /// Sends `token`.
    pub fn new(token: &BearerToken) -> Self {
        Self {
            value: token.header_value(),
        }
    }
}

impl tonic::service::Interceptor for BearerAuth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert(METADATA_KEY, self.value.clone());
        Ok(request)
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_token_is_private_and_removed_on_drop() {
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let parent = tempfile::tempdir().unwrap();
        let (token, file) = BearerToken::generate_in(parent.path()).unwrap();
        assert_eq!(mode(&file.path), 0o600);
        assert_eq!(mode(file.path.parent().unwrap()), 0o700);
        let loaded = BearerToken::load(&file.path).unwrap();
        assert!(loaded.matches(token.text.as_bytes()));
        assert!(!loaded.matches(b"not the token"));
        assert!(!format!("{token:?}").contains(token.text.as_str()));
        let dir = file.path.parent().unwrap().to_path_buf();
        drop(file);
        assert!(!dir.exists());
    }

    #[test]
    fn open_short_and_non_ascii_files_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, "0123456789abcdef0123").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = BearerToken::load(&path).unwrap_err().to_string();
        assert!(
            e.contains(&path.display().to_string())
                && e.contains("chmod 600")
                && e.contains("0640"),
            "{e}"
        );
        assert!(!e.contains("0123456789abcdef"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(BearerToken::load(&path).is_ok());
        std::fs::write(&path, "short\n").unwrap();
        assert!(matches!(
            BearerToken::load(&path),
            Err(TokenError::TooShort { chars: 5, .. })
        ));
        std::fs::write(&path, "0123456789abcdef 0123").unwrap();
        assert!(matches!(
            BearerToken::load(&path),
            Err(TokenError::NotAscii { .. })
        ));
    }

    #[test]
    fn the_gate_checks_scheme_and_token() {
        let parent = tempfile::tempdir().unwrap();
        let (token, _file) = BearerToken::generate_in(parent.path()).unwrap();
        let mut gate = Gate::new(Some(token.clone()));
        let with = |value: &str| {
            let mut r = Request::new(());
            r.metadata_mut()
                .insert(METADATA_KEY, value.parse().unwrap());
            r
        };
        use tonic::service::Interceptor;
        assert!(gate.call(Request::new(())).is_err());
        assert!(gate.call(with("Bearer wrong-token-wrong-token")).is_err());
        let right = format!("Bearer {}", token.text.as_str());
        assert!(gate.call(with(&right)).is_ok());
        assert!(gate
            .call(with(&format!("Basic {}", token.text.as_str())))
            .is_err());
        assert!(gate.call(with(&format!("{right}x"))).is_err());
        assert!(BearerAuth::new(&token)
            .call(Request::new(()))
            .and_then(|r| gate.call(r))
            .is_ok());
        assert!(Gate::new(None).call(Request::new(())).is_ok());
    }
}
