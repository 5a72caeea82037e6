//! `doctor`'s checks of the `local` backend: the data directory (existence, owner, mode, access
//! for the account the plugin runs as), the key file (existence, owner, mode, contents) and, when
//! the checker owns the directory and no running broker holds it, the store opened the way the
//! plugin opens it (which checks the key against the data).

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use zeroize::Zeroizing;

use super::keyfile::{EncryptionKey, KEY_FILE_NAME};
use super::store::{is_store_entry, DB_DIR_NAME, LOCK_FILE_NAME};
use super::{KeySource, LocalConfig, LocalStore};
use crate::backends::diagnosis::{permits, Account, Finding, Probe, Status};
use crate::backends::Error;

const DIR_CHECK: &str = "local.data_dir";
const KEY_CHECK: &str = "local.key";
const OPEN_CHECK: &str = "local.store";

/// Every finding about `config`'s store.
pub(super) async fn diagnose(config: &LocalConfig, probe: &Probe) -> Vec<Finding> {
    let mut out = Vec::new();
    let dir = &config.data_dir;
    let who = probe.run_as.clone();
    data_dir(dir, who.as_ref(), &mut out);
    let has_data = dir.join(DB_DIR_NAME).is_dir();
    match &config.key {
        KeySource::Inline(_) => out.push(Finding::ok(
            KEY_CHECK,
            "encryption key (setting encryption_key)",
            "given in the settings: base64 of 32 bytes",
        )),
        KeySource::File(path) => key_file(
            path,
            "encryption_key_file",
            false,
            has_data,
            who.as_ref(),
            &mut out,
        ),
        KeySource::Generated => key_file(
            &dir.join(KEY_FILE_NAME),
            "generated key",
            true,
            has_data,
            who.as_ref(),
            &mut out,
        ),
    }
    if has_data && out.iter().all(|f| f.status != Status::Problem) {
        out.push(open_store(config, probe).await);
    }
    out
}

fn name_of(uid: u32, who: Option<&Account>) -> String {
    match who {
        Some(a) if a.uid == uid => format!("{} (uid {uid})", a.name),
        _ => format!("uid {uid}"),
    }
}

fn data_dir(dir: &Path, who: Option<&Account>, out: &mut Vec<Finding>) {
    let subject = format!("data directory {}", dir.display());
    let user = who.map(|a| a.name.as_str()).unwrap_or("the Grafana user");
    let Some(meta) = examine(dir, DIR_CHECK, &subject, user, out, || {
        missing_dir(dir, &subject, who)
    }) else {
        return;
    };
    if !meta.is_dir() {
        out.push(Finding::problem(
            DIR_CHECK,
            subject,
            "exists and is not a directory",
            "set data_dir (in [plugin.secretsbroker-secretsmanager]) to a directory, or move the file away",
        ));
        return;
    }
    let mode = meta.mode() & 0o777;
    let before = out.len();
    let owner = Ownership {
        check: DIR_CHECK,
        subject: &subject,
        path: dir,
        want: 7,
        chown: "chown -R",
        chmod: "chmod 700",
        why: "it cannot make the directory private, and files it creates may be unreadable to \
              the next owner",
    };
    owner.check(&meta, who, out);
    if mode & 0o077 != 0 {
        let foreign = foreign_entries(dir);
        let consequence = if foreign.is_empty() {
            "the plugin makes it 0700 at its next start, if it runs as the directory's owner"
                .to_string()
        } else {
            format!(
                "the plugin leaves it so, because it also holds files that are not the store's ({})",
                foreign.join(", ")
            )
        };
        out.push(Finding::problem(
            &format!("{DIR_CHECK}.mode"),
            subject.clone(),
            format!(
                "has mode {mode:04o}: group or others can access the directory that holds the \
                 encrypted database{}; {consequence}",
                if dir.join(KEY_FILE_NAME).exists() {
                    " and its key"
                } else {
                    ""
                }
            ),
            format!("chmod 700 {}", dir.display()),
        ));
    }
    if out.len() == before {
        out.push(Finding::ok(
            DIR_CHECK,
            subject,
            format!(
                "exists, owned by {}, mode {mode:04o}",
                name_of(meta.uid(), who)
            ),
        ));
    }
}

/// The metadata of `path`, or `None` with the finding that says why it cannot be had pushed to
/// `out`: `missing` for a path that does not exist, [`unexaminable`] for any other error.
fn examine(
    path: &Path,
    check: &str,
    subject: &str,
    user: &str,
    out: &mut Vec<Finding>,
    missing: impl FnOnce() -> Finding,
) -> Option<fs::Metadata> {
    match fs::metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            out.push(missing());
            None
        }
        Err(e) => {
            out.push(unexaminable(check, subject.to_string(), path, &e, user));
            None
        }
    }
}

/// `path` could not be looked at (a parent directory that cannot be searched, usually).
fn unexaminable(
    check: &str,
    subject: String,
    path: &Path,
    e: &std::io::Error,
    user: &str,
) -> Finding {
    Finding::problem(
        check,
        subject,
        format!("cannot be examined: {e}"),
        format!(
            "make each parent directory of {} searchable by {user}, or set the setting to \
             another path",
            path.display()
        ),
    )
}

/// The owner and access checks of a file or directory the plugin must own.
struct Ownership<'a> {
    check: &'a str,
    subject: &'a str,
    path: &'a Path,
    /// The access its owner needs (4 read, 2 write, 1 enter).
    want: u32,
    chown: &'a str,
    chmod: &'a str,
    /// What goes wrong when another account owns it.
    why: &'a str,
}

impl Ownership<'_> {
    /// A problem when `who` does not own it, or owns it without the access it needs.
    fn check(&self, meta: &fs::Metadata, who: Option<&Account>, out: &mut Vec<Finding>) {
        let Some(a) = who else { return };
        let mode = meta.mode() & 0o777;
        if meta.uid() != a.uid {
            out.push(Finding::problem(
                &format!("{}.owner", self.check),
                self.subject,
                format!(
                    "is owned by {}, but the plugin runs as {}: {}",
                    name_of(meta.uid(), who),
                    name_of(a.uid, who),
                    self.why
                ),
                format!("{} {} {}", self.chown, a.name, self.path.display()),
            ));
        } else if !permits(a, mode, meta.uid(), meta.gid(), self.want) {
            out.push(Finding::problem(
                &format!("{}.access", self.check),
                self.subject,
                format!(
                    "has mode {mode:04o}: its owner {} lacks the access it needs",
                    a.name
                ),
                format!("{} {}", self.chmod, self.path.display()),
            ));
        }
    }
}

/// The names in `dir` that are not the store's (sorted); empty when it cannot be listed.
fn foreign_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !is_store_entry(n))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A data directory that does not exist yet: fine when the plugin's account can create it.
fn missing_dir(dir: &Path, subject: &str, who: Option<&Account>) -> Finding {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let parent = absolute.ancestors().skip(1).find(|a| a.exists());
    let creatable = match (parent.and_then(|p| fs::metadata(p).ok()), who) {
        (Some(m), Some(a)) => m.is_dir() && permits(a, m.mode(), m.uid(), m.gid(), 3),
        (Some(m), None) => m.is_dir(),
        (None, _) => false,
    };
    if creatable {
        return Finding::ok(
            DIR_CHECK,
            subject,
            "does not exist yet; the plugin creates it (mode 0700) at its first start",
        );
    }
    let user = who.map(|a| a.name.as_str()).unwrap_or("the Grafana user");
    Finding::problem(
        DIR_CHECK,
        subject,
        format!(
            "does not exist, and {user} cannot create it{}",
            parent
                .map(|p| format!(" in {}", p.display()))
                .unwrap_or_default()
        ),
        format!(
            "mkdir -p -m 700 {d} && chown {user} {d}   (or set data_dir to a directory {user} can write)",
            d = dir.display()
        ),
    )
}

fn key_file(
    path: &Path,
    setting: &str,
    generated: bool,
    has_data: bool,
    who: Option<&Account>,
    out: &mut Vec<Finding>,
) {
    let subject = format!("key file {} ({setting})", path.display());
    let user = who.map(|a| a.name.as_str()).unwrap_or("the Grafana user");
    let restore = format!(
        "restore the key the data was written with into {} (mode 0600, owned by {user})",
        path.display()
    );
    let Some(meta) = examine(path, KEY_CHECK, &subject, user, out, || {
        match (generated, has_data) {
            (true, false) => Finding::ok(
                KEY_CHECK,
                subject.clone(),
                "does not exist yet; the plugin generates it (mode 0600) at its first start",
            ),
            (true, true) => Finding::problem(
                KEY_CHECK,
                subject.clone(),
                "is missing, but the data directory holds data: the plugin would generate a \
                     new key, which does not decrypt that data, and refuse to start",
                format!("{restore}, or set encryption_key_file to the file that holds it"),
            ),
            (false, true) => Finding::problem(
                KEY_CHECK,
                subject.clone(),
                "does not exist",
                restore.clone(),
            ),
            (false, false) => Finding::problem(
                KEY_CHECK,
                subject.clone(),
                "does not exist",
                format!(
                    "(umask 077; openssl rand -base64 32 > {p}) && chown {user} {p}",
                    p = path.display()
                ),
            ),
        }
    }) else {
        return;
    };
    if !meta.is_file() {
        out.push(Finding::problem(
            KEY_CHECK,
            subject,
            "is not a regular file",
            restore,
        ));
        return;
    }
    let mode = meta.mode() & 0o777;
    let before = out.len();
    let owner = Ownership {
        check: KEY_CHECK,
        subject: &subject,
        path,
        want: 4,
        chown: "chown",
        chmod: "chmod 600",
        why: "with mode 0600 it cannot read it",
    };
    owner.check(&meta, who, out);
    if mode & 0o077 != 0 {
        out.push(Finding::problem(
            &format!("{KEY_CHECK}.mode"),
            subject.clone(),
            format!(
                "has mode {mode:04o}, so group or others can access the key; the plugin refuses \
                 to start with it"
            ),
            format!(
                "chmod 600 {}   (and check who may have read it)",
                path.display()
            ),
        ));
    }
    match fs::read_to_string(path).map(Zeroizing::new) {
        Ok(text) => {
            if let Err(why) = EncryptionKey::from_base64(&text) {
                let fix = if generated && !has_data {
                    format!(
                        "rm {}   (the directory holds no data yet: the plugin generates a new key)",
                        path.display()
                    )
                } else {
                    restore.clone()
                };
                out.push(Finding::problem(
                    &format!("{KEY_CHECK}.content"),
                    subject.clone(),
                    format!("does not hold a key: it {why}"),
                    fix,
                ));
            }
        }
        Err(e) => out.push(Finding::warning(
            &format!("{KEY_CHECK}.content"),
            subject.clone(),
            format!(
                "cannot be read by the user running doctor ({e}), so its contents were not checked"
            ),
            format!("run doctor as {user}: sudo -u {user} secrets-broker doctor …"),
        )),
    }
    if out.len() == before {
        out.push(Finding::ok(
            KEY_CHECK,
            subject,
            format!(
                "owned by {}, mode {mode:04o}, holds a 256-bit key",
                name_of(meta.uid(), who)
            ),
        ));
    }
}

/// Opens the store as the plugin does (lock, key, key check value, log replay), unless a running
/// broker holds it or doctor runs as another user than the directory's owner.
async fn open_store(config: &LocalConfig, probe: &Probe) -> Finding {
    let dir = &config.data_dir;
    let subject = format!("store in {}", dir.display());
    let owner = fs::metadata(dir).map(|m| m.uid()).ok();
    if probe.checker_uid.is_none() || probe.checker_uid != owner {
        let user = probe
            .run_as
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_else(|| "the directory's owner".into());
        return Finding::warning(
            OPEN_CHECK,
            subject,
            "not opened (so the key was not checked against the data): doctor does not run as \
             the directory's owner, and files it created there could be unusable to the plugin",
            format!("run doctor as {user}: sudo -u {user} secrets-broker doctor …"),
        );
    }
    if held_by_another_process(dir) {
        return Finding::ok(
            OPEN_CHECK,
            subject,
            format!(
                "in use by a running broker (it holds {LOCK_FILE_NAME}); that broker checked the \
                 key against the data when it started"
            ),
        );
    }
    let config = config.clone();
    let opened = tokio::task::spawn_blocking(move || LocalStore::open(&config).map(drop)).await;
    match opened {
        Ok(Ok(())) => Finding::ok(
            OPEN_CHECK,
            subject,
            "opened as the plugin opens it: the key decrypts the data",
        ),
        Ok(Err(e)) => {
            let fix = match &e {
                Error::Crypto(_) => {
                    "restore the key the data was written with (broker.key from a backup, or \
                     encryption_key / encryption_key_file)"
                }
                Error::PermissionDenied(_) => "correct the modes as the message says",
                _ => "correct what the message names, then run doctor again",
            };
            Finding::problem(OPEN_CHECK, subject, format!("cannot be opened: {e}"), fix)
        }
        Err(e) => Finding::problem(
            OPEN_CHECK,
            subject,
            format!("the check itself failed: {e}"),
            "run doctor again",
        ),
    }
}

/// Whether another process holds the data directory's lock (without creating the lock file).
fn held_by_another_process(dir: &Path) -> bool {
    use fs2::FileExt;
    let Ok(file) = fs::File::open(dir.join(LOCK_FILE_NAME)) else {
        return false;
    };
    match file.try_lock_exclusive() {
        Ok(()) => {
            let _ = FileExt::unlock(&file);
            false
        }
        Err(_) => true,
    }
}
