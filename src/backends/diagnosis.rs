//! What `secrets-broker doctor` reports: a [`Finding`] (status, what was checked, what was found,
//! the fix) and the [`Probe`] context a backend's
//! [`BackendSettings::diagnose`](super::BackendSettings::diagnose) runs its checks with. A
//! finding never holds a secret value or a credential.

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Checked and right.
    Ok,
    /// Works, but deserves attention (or could not be checked).
    Warning,
    /// Stops the plugin or Grafana, exposes the secrets, or will fail a call.
    Problem,
}

impl Status {
    /// The label printed in front of a finding.
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Problem => "PROBLEM",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad it is.
    pub status: Status,
    /// A stable name of the check, e.g. `local.data_dir.mode` (for scripts reading `--json`).
    pub check: String,
    /// What was checked, e.g. `data directory /var/lib/grafana/secrets-broker`.
    pub subject: String,
    /// What was found: for a warning or problem, what is wrong and why it matters.
    pub detail: String,
    /// What to do: a command or the exact ini line; `None` when nothing needs doing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    /// A check that passed.
    pub fn ok(check: &str, subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Status::Ok, check, subject, detail, None)
    }

    /// A warning with its fix.
    pub fn warning(
        check: &str,
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(Status::Warning, check, subject, detail, Some(fix.into()))
    }

    /// A problem with its fix.
    pub fn problem(
        check: &str,
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(Status::Problem, check, subject, detail, Some(fix.into()))
    }

    fn new(
        status: Status,
        check: &str,
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Self {
        Self {
            status,
            check: check.to_string(),
            subject: subject.into(),
            detail: detail.into(),
            fix,
        }
    }

    /// The same finding with `prefix` in front of its check and subject (a mirror's sides).
    pub fn within(mut self, check_prefix: &str, subject_prefix: &str) -> Self {
        self.check = format!("{check_prefix}.{}", self.check);
        self.subject = format!("{subject_prefix}: {}", self.subject);
        self
    }
}

/// A user account, as the plugin will run (Grafana's service user, or whoever runs `doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its name (`grafana`), or the uid as text when unknown.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary and supplementary groups.
    pub gids: Vec<u32>,
}

/// How far a backend's checks may go.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// The account the plugin runs as; ownership and access are checked for it. `None`: the
    /// account running the checks.
    pub run_as: Option<Account>,
    /// The effective uid running the checks (a store is only opened by its owner, so that
    /// `doctor` run as root never leaves root-owned files in a data directory).
    pub checker_uid: Option<u32>,
    /// Whether checks may write: the `aws` backend then creates, reads and force-deletes one
    /// probe secret (CreateSecret, TagResource, the KMS key's encrypt and decrypt, DeleteSecret).
    pub write: bool,
}

/// Whether `account` may do `want` (a mask of 4 read, 2 write, 1 execute/search) on a file with
/// `mode`, owner `uid` and group `gid`, by the Unix permission bits (root may do anything but
/// execute a file without any execute bit).
pub fn permits(account: &Account, mode: u32, uid: u32, gid: u32, want: u32) -> bool {
    if account.uid == 0 {
        return want & 1 == 0 || mode & 0o111 != 0;
    }
    let bits = if account.uid == uid {
        (mode >> 6) & 7
    } else if account.gids.contains(&gid) {
        (mode >> 3) & 7
    } else {
        mode & 7
    };
    bits & want == want
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_bits_follow_owner_then_group_then_others() {
        let grafana = Account {
            name: "grafana".into(),
            uid: 472,
            gids: vec![472],
        };
        assert!(permits(&grafana, 0o700, 472, 0, 7));
        assert!(!permits(&grafana, 0o077, 472, 472, 4)); // owner bits win, even if group has more
        assert!(permits(&grafana, 0o750, 0, 472, 5));
        assert!(!permits(&grafana, 0o750, 0, 472, 2));
        assert!(permits(&grafana, 0o755, 0, 0, 5));
        assert!(!permits(&grafana, 0o644, 0, 0, 1));
        let root = Account {
            name: "root".into(),
            uid: 0,
            gids: vec![0],
        };
        assert!(permits(&root, 0o600, 472, 472, 6));
        assert!(!permits(&root, 0o644, 0, 0, 1));
    }
}
